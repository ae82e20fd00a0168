import { describe, expect, it } from '@jest/globals'
import { commitMessage, slug } from '../../src/gitops/writeback.js'

const D = `sha256:${'ab'.repeat(32)}`

describe('write-back commit message', () => {
  it('names the image and short digest in the subject, the full reference, source commit and files in the body', () => {
    expect(commitMessage('localhost:5000/web', D, 'abc123', ['overlays/prod/kustomization.yaml'], 'production')).toBe(
      [
        'Pin localhost:5000/web to sha256:abababababab for production',
        '',
        `Image: localhost:5000/web@${D}`,
        'Source commit: abc123',
        'Files:',
        '- overlays/prod/kustomization.yaml',
        '',
        'Written by kube-ship write-back.'
      ].join('\n')
    )
  })

  it('accepts the image already pinned (repo@digest) without repeating the digest', () => {
    expect(commitMessage(`localhost:5000/web@${D}`, D, 'abc', []).split('\n').slice(0, 3)).toEqual([
      'Pin localhost:5000/web to sha256:abababababab',
      '',
      `Image: localhost:5000/web@${D}`
    ])
  })

  it.each([
    ['production', 'production'],
    ['Prod EU', 'prod-eu'],
    ['pr/42', 'pr-42'],
    ['', 'deploy']
  ])('slug(%j) = %s', (input, out) => {
    expect(slug(input)).toBe(out)
  })
})
