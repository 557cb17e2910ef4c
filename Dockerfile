# syntax=docker/dockerfile:1
# The badgesync server as a container: `docker build -t badgesync .`, then
# `docker run -p 8080:8080 -v badgesync-data:/data badgesync`.

# Build: the same set-up CI runs (scripts/setup.sh: pinned pnpm, frozen lockfile), then
# `pnpm build`, then the server installed from its packed tarballs the way a team installs it
# from npm (production dependencies only; better-sqlite3 compiles here, hence the toolchain).
FROM node:20-bookworm-slim AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ENV CI=true BADGESYNC_SETUP_BROWSER=0
RUN bash scripts/setup.sh && pnpm build \
  && mkdir /packs && pnpm -C shared pack --pack-destination /packs && pnpm -C server pack --pack-destination /packs
WORKDIR /app
RUN echo '{"name":"badgesync-image","private":true,"type":"module"}' > package.json \
  && npm install --omit=dev --no-audit --no-fund /packs/*.tgz

# Run: plain Node, no toolchain, no workspace sources, not root.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
  BADGESYNC_HOST=0.0.0.0 \
  BADGESYNC_PORT=8080 \
  BADGESYNC_DB=/data/badgesync.db
WORKDIR /app
COPY --from=build /app /app
# The SQLite file (and the generated secrets stored in it) live on the volume.
RUN mkdir /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.BADGESYNC_PORT}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/node_modules/@badgesync/server/bin/badgesync.js"]
CMD ["serve"]
