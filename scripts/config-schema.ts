// Writes schema/pipeline-config.schema.json, the JSON Schema of `autoscale run`'s config, from the config's zod
// schema (lib/pipeline-config.ts); with --check, writes nothing and fails when the shipped file differs.
//   npm run schema            (after changing the config's schema)
//   npm run schema -- --check (what test/pipeline/config-schema.test.ts checks too)
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PIPELINE_CONFIG_SCHEMA_FILE, pipelineConfigJsonSchemaText } from '../lib/pipeline-config.js';

const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', PIPELINE_CONFIG_SCHEMA_FILE);
const text = pipelineConfigJsonSchemaText();
if (process.argv.includes('--check')) {
  let shipped = '';
  try {
    shipped = readFileSync(file, 'utf8');
  } catch {
    // missing: reported below as differing
  }
  if (shipped !== text) {
    process.stderr.write(`${PIPELINE_CONFIG_SCHEMA_FILE} is not what the config's schema generates; run \`npm run schema\` and commit the file\n`);
    process.exit(1);
  }
  process.stdout.write(`${PIPELINE_CONFIG_SCHEMA_FILE} is up to date\n`);
} else {
  writeFileSync(file, text);
  process.stdout.write(`wrote ${PIPELINE_CONFIG_SCHEMA_FILE}\n`);
}
