// `npm run screens`: renders every sample screen into hardware/display/golden/ (the golden images
// the layout tests compare against, and the pictures the README shows).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePng } from './png.js';
import { ScreenRenderer } from './render.js';
import { sampleScreen } from './sample-screens.js';
import { DISPLAY_LOCALES } from './screen-text.js';
import { GOLDEN_SETS, goldenName } from './golden.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// Compiled to dist/hardware/display/: write into the source tree.
const out = path.resolve(
  here,
  here.includes(`${path.sep}dist${path.sep}`) ? '../../../hardware/display/golden' : 'golden',
);
mkdirSync(out, { recursive: true });
for (const { width, height, kinds } of GOLDEN_SETS) {
  for (const locale of DISPLAY_LOCALES) {
    const renderer = new ScreenRenderer({ width, height, locale });
    for (const kind of kinds) {
      const frame = renderer.render(sampleScreen(kind));
      const file = path.join(out, goldenName(kind, locale, width, height));
      writeFileSync(file, encodePng(frame.rgba, width, height));
      console.log(path.relative(process.cwd(), file));
    }
  }
}
