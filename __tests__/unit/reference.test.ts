import { describe, expect, it } from '@jest/globals'
import { familiarName, formatReference, parseReference, pinned, repository, sameRepository } from '../../src/image/reference.js'

const D = 'sha256:' + 'a'.repeat(64)

describe('parseReference', () => {
  it.each([
    ['nginx', { registry: 'docker.io', path: 'library/nginx' }],
    ['nginx:1.27', { registry: 'docker.io', path: 'library/nginx', tag: '1.27' }],
    ['acme/web:v1', { registry: 'docker.io', path: 'acme/web', tag: 'v1' }],
    ['docker.io/nginx', { registry: 'docker.io', path: 'library/nginx' }],
    ['index.docker.io/library/nginx', { registry: 'docker.io', path: 'library/nginx' }],
    ['my.repo.com:1234/team/app:sha-1', { registry: 'my.repo.com:1234', path: 'team/app', tag: 'sha-1' }],
    [`localhost:5000/app@${D}`, { registry: 'localhost:5000', path: 'app', digest: D }],
    [`127.0.0.1:5310/a/b/c:t@${D}`, { registry: '127.0.0.1:5310', path: 'a/b/c', tag: 't', digest: D }],
    ['localhost/app', { registry: 'localhost', path: 'app' }],
    ['ghcr.io/acme/web-app_x.y', { registry: 'ghcr.io', path: 'acme/web-app_x.y' }],
    ['registry:5000/app', { registry: 'registry:5000', path: 'app' }],
    ['Registry.Example/app', { registry: 'Registry.Example', path: 'app' }],
    ['[::1]:5000/app', { registry: '[::1]:5000', path: 'app' }],
    ['a--b__c/d', { registry: 'docker.io', path: 'a--b__c/d' }],
    // the 255 limit counts the path only (distribution/reference Parse), so a short host adds nothing
    [`r.io/${'a'.repeat(250)}`, { registry: 'r.io', path: 'a'.repeat(250) }],
    [`registry.example.com:5000/${'a'.repeat(255)}`, { registry: 'registry.example.com:5000', path: 'a'.repeat(255) }],
    // only the legacy index.docker.io is Docker Hub's other name; registry-1.docker.io stays itself
    ['registry-1.docker.io/x', { registry: 'registry-1.docker.io', path: 'x' }],
    [`app@sha512:${'e'.repeat(128)}`, { registry: 'docker.io', path: 'library/app', digest: `sha512:${'e'.repeat(128)}` }],
    [`app@sha384:${'e'.repeat(96)}`, { registry: 'docker.io', path: 'library/app', digest: `sha384:${'e'.repeat(96)}` }],
    // a 64-hex name with a tag is a name (Docker refuses only the bare identifier)
    [`${'f'.repeat(64)}:v1`, { registry: 'docker.io', path: `library/${'f'.repeat(64)}`, tag: 'v1' }]
  ])('%s', (input, expected) => {
    expect(parseReference(input)).toEqual({ tag: undefined, digest: undefined, ...expected })
  })

  it.each([
    ['', /empty/],
    ['acme/UPPER', /not a valid repository name component/],
    ['app:', /not a valid tag/],
    ['app:-bad', /not a valid tag/],
    ['ghcr.io//app', /empty path component/],
    ['ghcr.io/app/', /empty path component/],
    ['app@sha256:abc', /not a sha256 digest/],
    ['app@notadigest', /not a digest/],
    ['my.repo.com:port/app', /not a registry host/],
    ['-app', /not a valid repository name component/],
    ['a_-b', /not a valid repository name component/],
    // Docker Hub names count with their library/ prefix, as ParseNormalizedNamed parses them
    ['x'.repeat(250), /258 characters; at most 255/],
    [`r.io/${'a'.repeat(256)}`, /at most 255/],
    [`app@sha512:${'e'.repeat(64)}`, /not a sha512 digest \(128 lowercase hex/],
    [`app@md5:${'e'.repeat(32)}`, /'md5' is not a supported digest algorithm/],
    [`app@sha256:${'E'.repeat(64)}`, /not a sha256 digest/],
    ['a'.repeat(64), /64 hex characters, which is an image ID/],
    [' nginx', /white space/],
    ['nginx ', /white space/],
    ['ngi nx', /white space/],
    ['-host.io/app', /not a registry host/],
    ['[::1/app', /not a valid repository name component|not a registry host/]
  ])('rejects %j', (input, message) => {
    expect(() => parseReference(input)).toThrow(message)
  })
})

describe('formatting and matching', () => {
  it('formats the normalised full name', () => {
    expect(formatReference(parseReference('nginx:1'))).toBe('docker.io/library/nginx:1')
    expect(repository(parseReference('my.repo.com:1234/team/app:sha-1'))).toBe('my.repo.com:1234/team/app')
    expect(pinned(parseReference('localhost:5000/app:v1'), D)).toBe(`localhost:5000/app@${D}`)
  })
  it.each([
    ['nginx', 'nginx'],
    ['docker.io/library/nginx:1', 'nginx'],
    ['acme/web', 'acme/web'],
    ['ghcr.io/acme/web:1', 'ghcr.io/acme/web']
  ])('familiarName(%s) = %s', (input, expected) => {
    expect(familiarName(parseReference(input))).toBe(expected)
  })
  it.each([
    ['nginx', 'docker.io/library/nginx:1.2', true],
    ['my.repo.com:1234/team/app', 'my.repo.com:1234/team/app:sha-1', true],
    // the registry port is part of the name: a different port is a different repository
    ['my.repo.com:1234/team/app', 'my.repo.com/team/app', false],
    ['my.repo.com:1234/team/app', 'my.repo.com:1234/team/app-x', false],
    ['acme/web', 'ghcr.io/acme/web', false],
    ['not a ref', 'nginx', false]
  ])('sameRepository(%s, %s) = %s', (a, b, expected) => {
    expect(sameRepository(a, b)).toBe(expected)
  })
})
