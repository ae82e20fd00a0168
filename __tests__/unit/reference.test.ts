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
    ['a--b__c/d', { registry: 'docker.io', path: 'a--b__c/d' }]
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
    ['x'.repeat(300), /longer than 255/]
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
