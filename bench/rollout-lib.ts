// What bench/rollout.mjs measures, bundled by esbuild so plain Node can load the TypeScript sources.
export { loadKubeConfig } from '../src/kube/client.js'
export { applyObjects } from '../src/kube/apply.js'
export { waitForWorkloads } from '../src/kube/status/watch.js'
