/**
 * Prints one plain closing line, "Summary: N passed, N failed, N skipped", after jest's own
 * summary, so CI logs have a runner-independent count. A test file that failed outside its tests (a
 * syntax error, a failing hook or environment teardown) counts as one failure.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    process.stdout.write(`\nSummary: ${results.numPassedTests} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
module.exports = SummaryReporter;
