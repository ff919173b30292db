// Small helpers shared by the subcommands: JSON output and turning library errors into one line.
import ArgumentParser
import Basics
import Foundation

func prettyJSON<T: Encodable>(_ value: T) throws -> String {
    let e = JSONText.encoder(pretty: true)
    e.nonConformingFloatEncodingStrategy = .convertToString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: try e.encode(value), as: UTF8.self)
}

/// An error already worded for the user; ArgumentParser prints "Error: <message>" and exits 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
}

/// Runs `body`, turning any error into a one-line `CLIError` with the library's own message.
func withCLIErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as CLIError {
        throw e
    } catch let e as CustomStringConvertible {
        throw CLIError(description: e.description)
    } catch {
        throw CLIError(description: error.localizedDescription)
    }
}
