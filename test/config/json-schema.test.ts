import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '../../config/json-schema.js';

describe('config/config.schema.json', () => {
  it('is up to date with the zod schema (run `npm run config:schema` when this fails)', () => {
    const file = path.join(import.meta.dirname, '../../config/config.schema.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(configJsonSchema());
  });

  it('describes the operator input: prices are strings, mode is required', () => {
    const schema = configJsonSchema() as {
      required: string[];
      properties: { products: { items: { properties: { price: { type: string } } } } };
    };
    expect(schema.required).toEqual(expect.arrayContaining(['mode', 'products', 'buttons']));
    expect(schema.properties.products.items.properties.price.type).toBe('string');
  });
});
