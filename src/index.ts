// Entry for both steps of the action: the runner calls dist/index.js as `main` and as `post`,
// told apart by the state the main step saves.
import * as core from '@actions/core'
import { run } from './main.js'
import { post } from './post.js'

if (core.getState('isPost') === 'true') {
  await post()
} else {
  core.saveState('isPost', 'true')
  await run()
}
// Watches and keep-alive sockets must not hold the job open once the work is done.
process.exit(process.exitCode ?? 0)
