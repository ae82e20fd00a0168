// The closing line CI reads ("N passed, N failed"); jest's own summary has another shape.
// scripts/test runs jest twice (faults alone), so with TEST_COUNTS set each run appends its
// counts there and scripts/test prints the total once.
const fs = require('node:fs')

module.exports = class CountReporter {
  onRunComplete(_contexts, results) {
    const counts = { passed: results.numPassedTests, failed: results.numFailedTests + results.numRuntimeErrorTestSuites, skipped: results.numPendingTests + results.numTodoTests }
    if (process.env.TEST_COUNTS) fs.appendFileSync(process.env.TEST_COUNTS, JSON.stringify(counts) + '\n')
    else console.log(`tests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`)
  }
}
