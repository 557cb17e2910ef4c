#!/usr/bin/env node
// The `badgesync` command of the published package: the same CLI as `pnpm start`, run from the
// compiled JavaScript in dist/ (`pnpm build` makes it inside the workspace).
import '../dist/main.js';
