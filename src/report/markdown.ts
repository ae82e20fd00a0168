// The one renderer: DeployReport → markdown for the job summary and the PR comment. Pure: no I/O,
// no clock. Everything that came from users, manifests or the cluster (names, messages, events,
// logs, diffs) is escaped inline or put in a code fence that cannot be closed from inside.
import { oneLine } from '../errors.js'
import type { DeployReport, Diagnostic } from './model.js'

/** GitHub rejects issue comments longer than this (characters). */
export const COMMENT_LIMIT = 65_536
/** $GITHUB_STEP_SUMMARY upload is aborted above 1024 KiB per step. */
export const SUMMARY_LIMIT = 1024 * 1024

export interface RenderOptions {
  /** Upper bound in UTF-8 bytes, which also bounds characters. Sections are dropped to fit. */
  limit: number
  /** Hidden marker put first, e.g. markerFor(environment) for the sticky comment. */
  marker?: string
  /**
   * Pod log tails in the text (default true). The PR comment leaves them out unless
   * `comment-logs` asks: logs carry connection strings and a public repository's comments are
   * public; the comment points to the run instead.
   */
  logs?: boolean
}

/**
 * The hidden line that identifies an environment's sticky comment. The environment is encoded so
 * that no name can end the HTML comment early ('--', '>') or collide with another environment.
 */
export function markerFor(environment: string): string {
  return `<!-- kube-ship:${encodeURIComponent(environment).replace(/-(?=-)/g, '%2D')} -->`
}

export function renderReport(report: DeployReport, opts: RenderOptions): string {
  const head = [opts.marker, headline(report), overview(report)].filter(Boolean).join('\n\n')
  const foot = footer(report)
  const sections = detailSections(report, opts.logs !== false)

  // Greedy by importance: the most important sections get the budget first; a section that does
  // not fit whole is clipped (its code blocks shortened) or, failing that, omitted.
  let budget = opts.limit - size(head) - size(foot) - NOTE_RESERVE - 4 * (sections.length + 2)
  const rendered = new Map<Section, string>()
  const omitted: string[] = []
  const clipped: string[] = []
  for (const section of [...sections].sort((a, b) => a.importance - b.importance)) {
    const full = renderSection(section, Infinity) as string // an unbounded budget always renders
    const text = size(full) <= budget ? full : renderSection(section, budget)
    if (text === undefined) {
      omitted.push(section.title)
      continue
    }
    if (text !== full) clipped.push(section.title)
    rendered.set(section, text)
    budget -= size(text) + 2
  }

  const body = sections.filter(s => rendered.has(s)).map(s => rendered.get(s) as string)
  const note = omitted.length || clipped.length ? truncationNote(opts.limit, omitted, clipped, report.runUrl) : undefined
  return [head, ...body, note, foot].filter(Boolean).join('\n\n') + '\n'
}

// ---------------------------------------------------------------------------------------------
// Headline and overview table: always present, never cut.

function headline(r: DeployReport): string {
  const env = inline(r.environment, 100)
  const lines: string[] = []
  switch (r.status) {
    case 'succeeded':
      // a run with an image and no manifests only builds and pushes
      if (r.mode === 'deploy' && !r.resources.length && r.image) lines.push(`### ✅ Image pushed for ${env} (nothing deployed)`)
      else lines.push(`### ✅ Deployed to ${env}${r.canary.outcome === 'promoted' ? ' (canary promoted)' : ''}`)
      break
    case 'failed':
      lines.push(`### ❌ Deploy to ${env} failed${r.canary.outcome === 'aborted' ? ' (canary aborted)' : ''}`)
      break
    case 'rolled-back':
      lines.push(`### ❌ Deploy to ${env} failed and was rolled back`)
      break
    case 'diff': {
      const changes = r.resources.filter(x => x.change && x.change !== 'unchanged').length
      lines.push(
        changes
          ? `### Diff for ${env}: ${changes} ${changes === 1 ? 'object' : 'objects'} would change (nothing applied)`
          : `### ✅ ${env} is up to date (diff only, nothing applied)`
      )
      break
    }
    case 'cleaned-up':
      lines.push(`### ✅ Preview ${env} removed`)
      break
    case 'cancelled':
      lines.push(`### ⛔ Deploy to ${env} was cancelled${r.canary.outcome === 'aborted' ? ' (canary aborted)' : ''}`)
      break
  }
  if (r.error) lines.push(`**Error:** ${inline(r.error, 2000)}`)
  return lines.join('\n\n')
}

function overview(r: DeployReport): string {
  const rows: [string, string][] = []
  if (r.image) {
    const tags = r.image.tags.length ? ` (tags ${r.image.tags.map(t => code(t)).join(', ')})` : ''
    rows.push(['Image', `${code(r.image.ref.split('@')[0])}${tags}${r.image.built ? ', built in this run' : ''}`])
    rows.push(['Digest', code(r.image.digest)])
    if (r.image.attestations?.length) rows.push(['Attestations', `${r.image.attestations.join(', ')} (the digest is an image index)`])
    if (r.image.signedBy) rows.push(['Signed', `Cosign key ${code(r.image.signedBy)}`])
  }
  if (r.verified?.length) rows.push(['Verified', r.verified.map(v => inline(v, 300)).join('; ')])
  if (r.previousImage) rows.push(['Previous image', code(r.previousImage)])
  if (r.chart) {
    const values = r.chart.values.length ? `, values ${r.chart.values.map(v => code(v)).join(', ')}` : ''
    const hooks = r.chart.hooks.length ? `, hooks ${r.chart.hooks.map(h => `${code(h.resource)} ${h.event} ${h.ok ? 'ok' : 'failed'}`).join(', ')}` : ''
    rows.push(['Chart', `${code(`${r.chart.name} ${r.chart.version}`)} from ${code(r.chart.source)} as release ${code(r.chart.release)}${values}${hooks}`])
  }
  rows.push(['Environment', inline(r.environment, 200)])
  if (r.namespace) rows.push(['Namespace', code(r.namespace)])
  if (r.url) rows.push(['URL', link(r.url)])
  rows.push(['Strategy', strategyCell(r)])
  const duration = elapsed(r.startedAt, r.endedAt)
  if (duration !== undefined) rows.push(['Duration', formatDuration(duration)])
  if (r.commit) rows.push(['Commit', code(r.commit.slice(0, 12))])
  return table(['Deploy', 'Value'], rows)
}

function strategyCell(r: DeployReport): string {
  if (r.mode !== 'deploy') return r.mode === 'diff' ? `${r.strategy} (diff only)` : 'cleanup'
  const bg = r.blueGreen
  if (r.strategy === 'blue-green' && bg) {
    const from = bg.from ? inline(bg.from, 40) : 'nothing'
    const move = bg.switched ? `switched ${from} → ${inline(bg.to, 40)}` : `${inline(bg.to, 40)} deployed, not switched`
    return `blue-green: Service ${code(bg.service)} ${move}${bg.switchedBack ? `, switched back to ${from}` : ''}`
  }
  // A canary with nothing to compare with went out with the rolling plan.
  if (r.plan && r.plan !== r.strategy) return `${r.strategy}, delivered with the ${r.plan} plan`
  if (r.strategy !== 'canary' || !r.canary.steps.length) return r.strategy
  const path = r.canary.steps.map(s => `${s.weight}%`).join(' → ')
  const end = r.canary.outcome ? `, ${r.canary.outcome}` : ''
  const router = r.canary.router ? ` via ${inline(r.canary.router, 40)}` : ''
  return `canary${router}: ${path}${end}`
}

function footer(r: DeployReport): string {
  return r.runUrl ? `<sub>${link(r.runUrl, 'View the run')} · kube-ship</sub>` : '<sub>kube-ship</sub>'
}

const NOTE_RESERVE = 600

function truncationNote(limit: number, omitted: string[], clipped: string[], runUrl?: string): string {
  const parts = [
    omitted.length ? `left out ${omitted.join(', ')}` : '',
    clipped.length ? `shortened ${clipped.join(', ')}` : ''
  ].filter(Boolean)
  const where = runUrl ? ` Everything is in the ${link(runUrl, 'run log')}.` : ''
  return `> [!NOTE]\n> This report was cut to fit GitHub's limit of ${limit.toLocaleString('en-US')} characters: ${parts.join('; ')}.${where}`
}

// ---------------------------------------------------------------------------------------------
// Detail sections, folded. `importance` orders who gets the size budget (1 = most important);
// the display order is the order of the list.

type Block = { text: string } | { code: string; lang: string; keep: 'head' | 'tail' }

interface Section {
  title: string
  summary: string
  importance: number
  open?: boolean
  blocks: Block[]
}

function detailSections(r: DeployReport, logs: boolean): Section[] {
  const failed = r.status === 'failed' || r.status === 'rolled-back' || r.status === 'cancelled'
  const sections: Section[] = []

  if (r.workloads.length) {
    const ready = r.workloads.filter(w => w.ok).length
    sections.push({
      title: 'Rollout',
      summary: `Rollout: ${ready}/${r.workloads.length} ready`,
      importance: 3,
      blocks: [
        {
          text: table(
            ['Workload', 'Result', 'Took', 'Message'],
            r.workloads.map(w => [
              code(`${w.kind}/${w.name}`),
              w.ok ? '✅ ready' : '❌ failed',
              formatDuration(w.durationMs),
              inline(w.message, 300)
            ])
          )
        }
      ]
    })
  }

  if (r.canary.steps.length) {
    const start = Date.parse(r.canary.steps[0].startedAt)
    sections.push({
      title: 'Canary',
      summary: `Canary: ${r.canary.steps.map(s => `${s.weight}%`).join(' → ')}${r.canary.outcome ? `, ${r.canary.outcome}` : ''} (final weight ${r.canary.finalWeight}%)`,
      importance: 4,
      blocks: [
        {
          text: table(
            ['Step', 'Weight', 'At', 'Held', 'Result', 'Note'],
            r.canary.steps.map((s, i) => [
              String(i + 1),
              `${s.weight}%`,
              `+${formatDuration(Math.max(0, Date.parse(s.startedAt) - start))}`,
              s.endedAt ? formatDuration(Math.max(0, Date.parse(s.endedAt) - Date.parse(s.startedAt))) : '—',
              s.ok ? '✅' : '❌',
              s.note ? inline(s.note, 300) : ''
            ])
          )
        }
      ]
    })
  }

  if (r.health.length) {
    const passed = r.health.filter(h => h.ok).length
    sections.push({
      title: 'Health checks',
      summary: `Health checks: ${passed}/${r.health.length} passed`,
      importance: 5,
      blocks: [
        {
          text: table(
            ['URL', 'Result', 'Status', 'Attempts', 'Message'],
            r.health.map(h => [
              code(h.url),
              h.ok ? '✅ passed' : '❌ failed',
              h.status === undefined ? '—' : String(h.status),
              String(h.attempts),
              inline(h.message, 300)
            ])
          )
        }
      ]
    })
  }

  if (r.diagnostics.length) {
    sections.push({
      title: 'Diagnostics',
      summary: `Diagnostics: ${r.diagnostics.length} ${r.diagnostics.length === 1 ? 'resource' : 'resources'}`,
      importance: failed ? 1 : 6,
      open: failed,
      blocks: r.diagnostics.flatMap(d => diagnosticBlocks(d, logs, r.runUrl))
    })
  }

  if (r.rollback.length) {
    const ACTION = { restored: '↩ restored', deleted: 'deleted', failed: '❌ failed' } as const
    sections.push({
      title: 'Rollback',
      summary: `Rollback: ${r.rollback.length} ${r.rollback.length === 1 ? 'action' : 'actions'}`,
      importance: 2,
      open: failed,
      blocks: [
        {
          text: table(
            ['Resource', 'Action', 'Image', 'Message'],
            r.rollback.map(b => [
              code(b.resource),
              ACTION[b.action],
              b.image ? code(b.image) : '',
              b.message ? inline(b.message, 300) : ''
            ])
          )
        }
      ]
    })
  }

  if (r.prune && (r.prune.planned.length || r.prune.kept.length || r.prune.refused)) {
    const p = r.prune
    const verb = r.mode === 'diff' ? 'will delete' : 'deleted'
    // Deploy: what went; diff, or a refused prune: what would have gone.
    const gone = r.mode === 'diff' || p.refused ? p.planned : p.deleted
    const lines = [
      ...(p.refused ? [`- ⛔ ${inline(p.refused, 500)}`] : []),
      ...gone.map(x => `- ${p.refused && r.mode !== 'diff' ? 'not deleted' : verb}: ${code(x)}`),
      ...p.kept.map(k => `- kept: ${code(k.resource)} (${inline(k.reason, 300)})`)
    ]
    sections.push({
      title: 'Prune',
      summary: `Prune: ${gone.length} ${p.refused && r.mode !== 'diff' ? 'refused' : verb}${p.kept.length ? `, ${p.kept.length} kept` : ''}`,
      importance: r.mode === 'diff' ? 2 : 5,
      open: r.mode === 'diff' || !!p.refused,
      blocks: [{ text: lines.join('\n') }]
    })
  }

  if (r.resources.length) {
    const counts = new Map<string, number>()
    for (const x of r.resources) counts.set(x.change ?? 'applied', (counts.get(x.change ?? 'applied') ?? 0) + 1)
    const breakdown = [...counts].map(([change, n]) => `${n} ${change}`).join(', ')
    sections.push({
      title: 'Resources',
      summary: `Resources: ${r.resources.length} (${breakdown})`,
      importance: 7,
      blocks: [
        {
          text: table(
            ['Kind', 'Namespace', 'Name', 'Change'],
            r.resources.map(x => [inline(x.kind, 100), x.namespace ? code(x.namespace) : '', code(x.name), x.change ?? ''])
          )
        }
      ]
    })
  }

  if (r.pinned.length) {
    sections.push({
      title: 'Pinned images',
      summary: `Pinned images: ${r.pinned.length}`,
      importance: 8,
      blocks: [
        {
          text: table(
            ['Resource', 'Container', 'From', 'To'],
            r.pinned.map(p => [code(p.resource), code(p.container), code(p.from), code(p.to)])
          )
        }
      ]
    })
  }

  if (r.diff) {
    sections.push({
      title: 'Diff',
      summary: `Diff (${r.diff.split('\n').length} lines)`,
      importance: r.mode === 'diff' ? 1 : 9,
      open: r.mode === 'diff',
      blocks: [{ code: r.diff, lang: 'diff', keep: 'head' }]
    })
  }

  if (r.warnings.length) {
    sections.push({
      title: 'Warnings',
      summary: `Warnings: ${r.warnings.length}`,
      importance: 6,
      blocks: [{ text: r.warnings.map(w => `- ${inline(w, 500)}`).join('\n') }]
    })
  }
  // a diff run is about its diff: show it first
  if (r.mode === 'diff') sections.sort((a, b) => Number(b.title === 'Diff') - Number(a.title === 'Diff'))
  return sections
}

function diagnosticBlocks(d: Diagnostic, logs: boolean, runUrl?: string): Block[] {
  const blocks: Block[] = [{ text: `**${code(d.resource)}**: ${inline(d.reason, 100)}: ${inline(d.message, 1000)}` }]
  if (d.hint) blocks.push({ text: `Hint: ${inline(d.hint, 500)}` })
  if (d.events.length) blocks.push({ text: 'Events:' }, { code: d.events.join('\n'), lang: 'text', keep: 'tail' })
  if (d.logTail.length && logs) blocks.push({ text: 'Log tail:' }, { code: d.logTail.join('\n'), lang: 'text', keep: 'tail' })
  else if (d.logTail.length)
    blocks.push({ text: `Log tail (${d.logTail.length} ${d.logTail.length === 1 ? 'line' : 'lines'}): in the job summary and log${runUrl ? ` of ${link(runUrl, 'the run')}` : ''}, not here.` })
  return blocks
}

/** The section as folded HTML; undefined when even its text without code does not fit. */
function renderSection(s: Section, budget: number): string | undefined {
  const wrap = (parts: string[]): string =>
    `<details${s.open ? ' open' : ''}><summary>${inline(s.summary, 300)}</summary>\n\n${parts.join('\n\n')}\n\n</details>`
  const full = wrap(s.blocks.map(b => ('text' in b ? b.text : fence(b.code, b.lang))))
  if (size(full) <= budget) return full

  // Water-filling: code blocks share what the fixed text leaves, small ones keep all they need.
  const codes = s.blocks.filter((b): b is Extract<Block, { code: string }> => 'code' in b)
  const fixed = size(wrap(s.blocks.map(b => ('text' in b ? b.text : fence('', b.lang)))))
  let left = budget - fixed - codes.length * 80
  if (left < 0 || (codes.length === 0 && fixed > budget)) return undefined
  const share = new Map<Block, number>()
  const bySize = [...codes].sort((a, b) => size(a.code) - size(b.code))
  bySize.forEach((b, i) => {
    const give = Math.min(size(b.code), Math.floor(left / (bySize.length - i)))
    share.set(b, give)
    left -= give
  })
  const text = wrap(s.blocks.map(b => ('text' in b ? b.text : fence(clip(b.code, share.get(b) ?? 0, b.keep), b.lang))))
  return size(text) <= budget ? text : undefined
}

/** Keeps whole lines from the head or tail within `max` bytes and says how many were dropped. */
function clip(text: string, max: number, keep: 'head' | 'tail'): string {
  const lines = text.split('\n')
  const kept: string[] = []
  let used = 0
  for (let i = 0; i < lines.length; i++) {
    const line = keep === 'head' ? lines[i] : lines[lines.length - 1 - i]
    if (used + size(line) + 1 > max - 40) break
    kept.push(line)
    used += size(line) + 1
  }
  if (keep === 'tail') kept.reverse()
  const note = `… ${lines.length - kept.length} of ${lines.length} lines left out …`
  return keep === 'head' ? [...kept, note].join('\n') : [note, ...kept].join('\n')
}

// ---------------------------------------------------------------------------------------------
// Escaping and small formatters.

const NEUTRAL: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
  '|': '&#124;',
  '*': '&#42;',
  _: '&#95;',
  '[': '&#91;',
  ']': '&#93;',
  '~': '&#126;',
  '\\': '&#92;'
}

/**
 * User text for one line of markdown or HTML: collapsed to a line, HTML-escaped, markdown
 * punctuation turned into entities (so no emphasis, links, tables or code spans), bounded.
 */
export function inline(text: string, max = 500): string {
  // U+2060 after a word-initial '@' keeps a message from @-mentioning (and notifying) someone.
  return neutral(text, max).replace(/(^|[^\w])@(?=\w)/g, '$1@\u2060')
}

function neutral(text: string, max: number): string {
  const line = oneLine(text)
  const short = line.length > max ? `${line.slice(0, max - 1)}…` : line
  return short.replace(/[&<>"'`|*_[\]~\\]/g, c => NEUTRAL[c])
}

/** A code span that cannot be broken out of: <code> with escaped content (no mentions in code). */
function code(text: string): string {
  return `<code>${neutral(text, 300)}</code>`
}

/** A fenced block whose fence is longer than any backtick run inside, so the text cannot end it. */
export function fence(body: string, lang: string): string {
  const longest = Math.max(2, ...[...body.matchAll(/`+/g)].map(m => m[0].length))
  const bar = '`'.repeat(longest + 1)
  return `${bar}${lang}\n${body.replace(/\n+$/, '')}\n${bar}`
}

/** Only http(s) URLs become links; anything else is shown as text. */
function link(url: string, label?: string): string {
  if (!/^https?:\/\/[^\s<>"']+$/.test(url)) return code(url)
  return `<a href="${url.replace(/&/g, '&amp;')}">${inline(label ?? url, 300)}</a>`
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

function elapsed(start: string, end?: string): number | undefined {
  if (!end) return undefined
  const ms = Date.parse(end) - Date.parse(start)
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined
}

/** 850 ms, 12.3 s, 4m 05s, 1h 02m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)} s`
  const s = Math.floor(ms / 1000)
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

function size(text: string): number {
  return Buffer.byteLength(text, 'utf8')
}
