// Entry for both steps of the action: the runner calls dist/index.js as `main` and as `post`,
// told apart by the state the main step saves. Each step imports only its own code.
import { setSourceMapsSupport } from 'node:module'
import * as core from '@actions/core'
import { state } from './state.js'

// With step debug logging, stack traces name src/ files and lines. Node maps only the code it
// loads after this call (the imports below); ordinary runs skip reading the maps at all.
if (core.isDebug()) setSourceMapsSupport(true)

if (state.isPost()) {
  await (await import('./post.js')).post()
} else {
  state.markMainStarted()
  await (await import('./main.js')).runPipeline()
}
// Watches and keep-alive sockets must not hold the job open once the work is done.
process.exit(process.exitCode ?? 0)
