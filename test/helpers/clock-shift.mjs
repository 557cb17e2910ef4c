/**
 * Preloaded into a server process by push tests (`NODE_OPTIONS=--import=<this file>`, see
 * clockShiftEnv in push-rig.ts): each SIGUSR2 moves `Date.now()` forward by
 * BADGESYNC_TEST_CLOCK_STEP_MS, so a test can age the APNs provider token past Apple's
 * 20-minute refresh floor without waiting 20 minutes. Timers are not touched. Plain
 * JavaScript: it loads before tsx does.
 */
const realNow = Date.now.bind(Date);
const step = Number(process.env.BADGESYNC_TEST_CLOCK_STEP_MS ?? '0');
let offsetMs = 0;

Date.now = () => realNow() + offsetMs;

process.on('SIGUSR2', () => {
  offsetMs += step;
  process.stdout.write(`${JSON.stringify({ msg: 'test clock advanced', offsetMs })}\n`);
});
