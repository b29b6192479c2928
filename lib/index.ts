// Public library API of autoscale-lm: `import { ... } from 'autoscale-lm'`.
// Each module adds its exports here.
export { buildProgram } from './cli.js';
