// Reports shaped like real runs, shared by the renderer's golden test and the stand-in e2e tests.
import { newReport, type DeployReport } from '../../src/report/model.js'

const digest = 'sha256:4f2d9c1b7e3a5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8'
const runUrl = 'https://github.com/acme/shop/actions/runs/123456789/attempts/1'

export function successReport(): DeployReport {
  return newReport({
    status: 'succeeded',
    environment: 'production',
    mode: 'deploy',
    strategy: 'rolling',
    namespace: 'shop',
    url: 'https://shop.example.com',
    image: { ref: `ghcr.io/acme/shop@${digest}`, digest, tags: ['3f1c2ab'], built: true },
    previousImage: 'ghcr.io/acme/shop@sha256:0000000000000000000000000000000000000000000000000000000000000001',
    resources: [
      { kind: 'ConfigMap', namespace: 'shop', name: 'shop-config', change: 'unchanged' },
      { kind: 'Service', namespace: 'shop', name: 'web', change: 'unchanged' },
      { kind: 'Deployment', namespace: 'shop', name: 'web', change: 'configured' },
      { kind: 'Deployment', namespace: 'shop', name: 'worker', change: 'configured' },
      { kind: 'Ingress', namespace: 'shop', name: 'web', change: 'created' }
    ],
    pinned: [
      { resource: 'Deployment/shop/web', container: 'web', from: 'ghcr.io/acme/shop', to: `ghcr.io/acme/shop@${digest}` },
      { resource: 'Deployment/shop/worker', container: 'worker', from: 'ghcr.io/acme/shop:latest', to: `ghcr.io/acme/shop@${digest}` }
    ],
    workloads: [
      { kind: 'Deployment', namespace: 'shop', name: 'web', ok: true, message: '3 of 3 updated replicas are available', durationMs: 14_250 },
      { kind: 'Deployment', namespace: 'shop', name: 'worker', ok: true, message: '1 of 1 updated replicas are available', durationMs: 6_900 }
    ],
    health: [{ url: 'https://shop.example.com/healthz', ok: true, status: 200, attempts: 1, message: 'HTTP 200 in 35 ms' }],
    warnings: ['Deployment/shop/worker: container worker has no readinessProbe'],
    commit: '3f1c2ab9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3',
    runUrl,
    startedAt: '2026-11-25T10:00:00.000Z',
    endedAt: '2026-11-25T10:01:05.400Z'
  })
}

export function rollbackReport(): DeployReport {
  return newReport({
    ...successReport(),
    status: 'rolled-back',
    error: 'Deployment/shop/web: pod web-7d9f8b6c5-x2x4q is in CrashLoopBackOff (container web exited with code 1)',
    url: undefined,
    workloads: [
      {
        kind: 'Deployment',
        namespace: 'shop',
        name: 'web',
        ok: false,
        message: 'pod web-7d9f8b6c5-x2x4q: CrashLoopBackOff, restarted 3 times',
        durationMs: 41_700
      },
      { kind: 'Deployment', namespace: 'shop', name: 'worker', ok: true, message: '1 of 1 updated replicas are available', durationMs: 6_900 }
    ],
    health: [],
    diagnostics: [
      {
        resource: 'Pod/shop/web-7d9f8b6c5-x2x4q',
        reason: 'CrashLoopBackOff',
        message: 'back-off 40s restarting failed container=web pod=web-7d9f8b6c5-x2x4q_shop(1b2c)',
        hint: 'the process exits at start; read the log tail below, then check env vars and config',
        events: [
          'Normal   Scheduled  40s  default-scheduler  Successfully assigned shop/web-7d9f8b6c5-x2x4q to kwok-node-0',
          'Normal   Pulled     39s  kubelet            Container image "ghcr.io/acme/shop@sha256:4f2d…" already present',
          'Warning  BackOff    5s   kubelet            Back-off restarting failed container web'
        ],
        logTail: [
          'listening on :8080',
          'Error: DATABASE_URL is not set',
          '    at connect (/app/db.js:12:11) <script>alert(1)</script>',
          '```',
          'process exited with code 1'
        ]
      }
    ],
    rollback: [
      {
        resource: 'Deployment/shop/web',
        action: 'restored',
        image: 'ghcr.io/acme/shop@sha256:0000000000000000000000000000000000000000000000000000000000000001',
        message: 'revision 7 restored; 3 of 3 replicas available'
      },
      { resource: 'Deployment/shop/worker', action: 'restored', image: 'ghcr.io/acme/shop@sha256:0000000000000000000000000000000000000000000000000000000000000001' }
    ],
    warnings: [],
    endedAt: '2026-11-25T10:02:13.000Z'
  })
}

export function canaryReport(): DeployReport {
  return newReport({
    ...successReport(),
    strategy: 'canary',
    resources: [
      { kind: 'Deployment', namespace: 'shop', name: 'web', change: 'configured' },
      { kind: 'Deployment', namespace: 'shop', name: 'web-canary', change: 'deleted' },
      { kind: 'Service', namespace: 'shop', name: 'web-canary', change: 'deleted' },
      { kind: 'Ingress', namespace: 'shop', name: 'web-canary', change: 'deleted' }
    ],
    pinned: [],
    workloads: [
      { kind: 'Deployment', namespace: 'shop', name: 'web-canary', ok: true, message: '1 of 1 updated replicas are available', durationMs: 3_100 },
      { kind: 'Deployment', namespace: 'shop', name: 'web', ok: true, message: '3 of 3 updated replicas are available', durationMs: 12_000 }
    ],
    canary: {
      router: 'nginx',
      finalWeight: 0,
      outcome: 'promoted',
      steps: [
        { weight: 10, startedAt: '2026-11-25T10:00:10.000Z', endedAt: '2026-11-25T10:00:40.000Z', ok: true },
        { weight: 25, startedAt: '2026-11-25T10:00:40.000Z', endedAt: '2026-11-25T10:01:40.000Z', ok: true, note: 'gate https://shop.example.com/healthz 200 (X-Canary: always)' },
        { weight: 50, startedAt: '2026-11-25T10:01:40.000Z', endedAt: '2026-11-25T10:03:40.000Z', ok: true }
      ]
    },
    health: [
      { url: 'https://shop.example.com/healthz', ok: true, status: 200, attempts: 3, message: 'canary answered 200 at each step' }
    ],
    warnings: [],
    endedAt: '2026-11-25T10:04:02.000Z'
  })
}

export function diffReport(): DeployReport {
  return newReport({
    ...successReport(),
    status: 'diff',
    mode: 'diff',
    url: undefined,
    previousImage: undefined,
    workloads: [],
    health: [],
    warnings: [],
    resources: [
      { kind: 'ConfigMap', namespace: 'shop', name: 'shop-config', change: 'unchanged' },
      { kind: 'Deployment', namespace: 'shop', name: 'web', change: 'configured' }
    ],
    diff: [
      '--- Deployment/shop/web (live)',
      '+++ Deployment/shop/web (after apply)',
      '@@ -21,7 +21,7 @@',
      '       containers:',
      '         - name: web',
      '-          image: ghcr.io/acme/shop@sha256:0000000000000000000000000000000000000000000000000000000000000001',
      '+          image: ghcr.io/acme/shop@sha256:4f2d9c1b7e3a5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8',
      '           ports:'
    ].join('\n'),
    endedAt: '2026-11-25T10:00:04.200Z'
  })
}
