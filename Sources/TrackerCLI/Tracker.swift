// The `tracker` executable: a thin layer over the library modules, one file per subcommand.
import ArgumentParser
import Basics
import Kernels

@main
struct Tracker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tracker",
        abstract: "Compare attention mechanisms on small language models, end to end, on CPUs.",
        discussion: "State lives in a workspace folder: --home DIR, else $TRACKER_HOME, else ./.tracker.",
        version: "0.1.0",
        subcommands: [
            IngestCommand.self, CorpusCommand.self, ScanCommand.self, TokenizerCommand.self,
            RunCommand.self, WorkerCommand.self, StatusCommand.self, CancelCommand.self, DeleteCommand.self,
            ReportCommand.self, ExportCommand.self, ImportCommand.self, NightlyCommand.self,
            TrainCommand.self, SampleCommand.self, AttentionCommand.self, BenchStoreCommand.self,
            BenchAttentionCommand.self, ServeCommand.self,
            BenchCorpusCommand.self,
        ])

    static func main() {
        // Both while the process has one thread: OpenBLAS reads OPENBLAS_CORETYPE when it loads,
        // and every thread created later inherits flush-to-zero (Basics/FloatEnvironment.swift).
        BLAS.chooseKernels()
        FloatEnvironment.flushSubnormals()
        main(nil)
    }
}
