// Spawned by display.bench.ts: a fresh process that loads only the display module and draws one
// idle frame into the framebuffer file given (argv: device, sysfs root), prints its timings as one
// JSON line, then waits until the parent, having read its RSS from /proc, closes stdin.
const [device, sysfsRoot] = process.argv.slice(2);
if (device === undefined || sysfsRoot === undefined)
  throw new Error('usage: display-footprint <device> <sysfs root>');
const t0 = performance.now();
const { createDisplay } = await import('../hardware/display/index.js');
const { loadFaces } = await import('../hardware/display/font.js');
const { SAMPLE_SCREENS } = await import('../hardware/display/sample-screens.js');
const t1 = performance.now();
loadFaces();
const t2 = performance.now();
const display = createDisplay({ sink: 'framebuffer', device, rotation: 0 }, 'sv', { sysfsRoot });
await display.show(SAMPLE_SCREENS.idle);
const t3 = performance.now();
process.stdout.write(
  `${JSON.stringify({ importMs: t1 - t0, atlasMs: t2 - t1, frameMs: t3 - t2 })}\n`,
);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
