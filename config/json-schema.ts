/**
 * The JSON Schema of config.yaml, generated from the zod schema, for operators' editors
 * (`# yaml-language-server: $schema=...`). `npm run config:schema` writes it to
 * `config/config.schema.json`; a test fails when the committed file is stale.
 */
import { z } from 'zod';
import { ConfigSchema } from './schema.js';

/** The JSON Schema (draft 2020-12) of what an operator writes: the schema's input side. */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'throw' }),
    $id: 'https://seqr-vend.invalid/config.schema.json',
    title: 'seqr-vend configuration (/etc/seqr-vend/config.yaml)',
  };
}
