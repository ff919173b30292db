#if canImport(Glibc)
    import Glibc
#endif

/// Errors of the shared helpers: file I/O with the OS's reason and what to do about it.
public enum BasicsError: Error, CustomStringConvertible, Equatable {
    case io(path: String, errno: Int32, action: String)
    /// An output path that names something a file cannot be written over (a folder, a socket).
    case notAFile(path: String, kind: String)

    public var description: String {
        switch self {
        case .io(let path, let code, let action):
            let reason = String(cString: strerror(code))
            return "\(path): cannot \(action): \(reason)\(ioHint(code))"
        case .notAFile(let path, let kind):
            return "\(path): is \(kind), not a file: give the path of a file to write"
        }
    }
}

/// A one-line hint for the errno values users can act on.
public func ioHint(_ code: Int32) -> String {
    switch code {
    case ENOSPC, EDQUOT: return " (the disk is full: free some space and run the command again)"
    case EACCES, EPERM: return " (check the file's permissions)"
    case ENOENT: return " (check the path)"
    case EROFS: return " (the file system is read-only: choose another --home)"
    default: return ""
    }
}
