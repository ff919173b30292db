// The training session's MetricSink for a queued run of an ASHA sweep: passes each logged value
// of the sweep's metric to the run's RungGate, which records the run at the rungs it reaches
// and decides there whether it goes on (Scheduler/Asha.swift); each decision goes to the run's
// log. The session's loop ends the run once the gate says pruned.
import Basics
import Foundation
import Scheduler
import Training

final class RungSink: MetricSink {
    let gate: RungGate

    init(gate: RungGate) { self.gate = gate }

    func log(step: Int, metrics: [String: Double]) {
        guard let value = metrics[gate.config.metric] else { return }
        do {
            guard let r = try gate.observe(step: step, value: value) else { return }
            let verdict = r.pruned ? RungGate.reason(r, gate.config) : "continues"
            writeStderr(
                "rung \(r.rung) (step \(r.step)): \(r.metric) \(String(format: "%.4f", value)), "
                    + "arrival \(r.arrival): \(verdict)\n")
        } catch {
            writeStderr(
                "warning: run \(gate.runId): rung result at step \(step) not recorded (\(error)); the run goes on\n")
        }
    }
}
