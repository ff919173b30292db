// squeue's `%F|%o` (array job id | batch script), recorded from the test cluster: how a head
// that died right after sbatch finds the arrays it submitted.
import Testing

@testable import SlurmKit

struct SubmittedScriptsTests {
    @Test func oneEntryPerArrayFromTheTasksLines() throws {
        let output = """
            16|/tmp/ws/slurm/kill-1796534905553/array-0.sh
            17|/tmp/ws/slurm/kill-1796534905553/retry-0-1.sh
            16|/tmp/ws/slurm/kill-1796534905553/array-0.sh
            18|/tmp/ws/slurm/a b/array-0.sh

            """
        #expect(
            try SlurmParse.scripts(output) == [
                SlurmSubmittedScript(jobID: 16, script: "/tmp/ws/slurm/kill-1796534905553/array-0.sh"),
                SlurmSubmittedScript(jobID: 17, script: "/tmp/ws/slurm/kill-1796534905553/retry-0-1.sh"),
                SlurmSubmittedScript(jobID: 18, script: "/tmp/ws/slurm/a b/array-0.sh"),
            ])
        #expect(try SlurmParse.scripts("") == [])
    }

    @Test func linesOfAnotherShapeAreErrors() {
        for bad in ["16", "x|/a.sh", "16|", "-3|/a.sh"] {
            #expect(throws: SlurmError.self, "\(bad)") { try SlurmParse.scripts(bad + "\n") }
        }
    }
}
