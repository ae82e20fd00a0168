// The Octokit the action talks to GitHub with, apart from src/github.ts so that importing the
// context types and pure helpers never loads Octokit (start-up cost; see bench/cold-start.mjs).
import { getOctokit } from '@actions/github'
import { type Octokit, retryPlugin } from '../github.js'

/** getOctokit with the retry policy; options as getOctokit's (tests point baseUrl at the stand-in). */
export function githubClient(token: string, options?: Parameters<typeof getOctokit>[1]): Octokit {
  return getOctokit(token, options, retryPlugin as never)
}
