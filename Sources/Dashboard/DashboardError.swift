// Why a request got no page, as the HTTP status and a one-line message saying what to do.
import Report
import Store

enum DashboardError: Error, CustomStringConvertible, Equatable {
    /// A query the views cannot answer (bad --where, unknown sort key, page out of range).
    case badRequest(String)
    case notFound(String)
    /// No token, or the wrong one, on a server bound to a non-loopback interface.
    case unauthorized
    /// The store could not be read (a damaged or locked database).
    case unavailable(String)

    var status: Int {
        switch self {
        case .badRequest: return 400
        case .notFound: return 404
        case .unauthorized: return 401
        case .unavailable: return 503
        }
    }

    var description: String {
        switch self {
        case .badRequest(let m), .notFound(let m), .unavailable(let m): return m
        case .unauthorized:
            return "this dashboard needs its token: open it once with ?token=TOKEN (the --token given to tracker serve)"
        }
    }

    /// Errors of the Report and Store modules as the status they mean for a request.
    static func from(_ error: Error) -> DashboardError {
        switch error {
        case let e as DashboardError: return e
        case let e as ReportError:
            if case .noRuns = e { return .notFound(e.description) }
            return .badRequest(e.description)
        case let e as StoreError:
            switch e {
            case .runNotFound, .experimentNotFound: return .notFound(e.description)
            case .ambiguousRun: return .badRequest(e.description)
            default: return .unavailable(e.description)
            }
        default: return .unavailable("\(error)")
        }
    }
}
