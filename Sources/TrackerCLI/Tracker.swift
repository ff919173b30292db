import ArgumentParser

@main
struct Tracker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tracker",
        abstract: "Compare attention mechanisms on small language models, end to end, on CPUs.")
}
