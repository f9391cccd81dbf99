/** `npm run config:schema`: regenerates config/config.schema.json from the zod schema. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import prettier from 'prettier';
import { configJsonSchema } from './json-schema.js';

// Built to dist/config/; the committed file lives in the source tree.
const target = fileURLToPath(new URL('../../config/config.schema.json', import.meta.url));
const options = (await prettier.resolveConfig(target)) ?? {};
const text = await prettier.format(JSON.stringify(configJsonSchema()), {
  ...options,
  parser: 'json',
});
writeFileSync(target, text);
console.log(`wrote ${target}`);
