// A small glob matcher for entry paths: `*`, `?`, `[a-z]`, `[!x]`, `\` escapes, and `**` that spans
// folders. A glob matches a path when it matches the whole path or any tail of it that starts
// after a `/`, so `*.txt` matches `a/b.txt` and `docs/*.md` matches `corpus/docs/a.md`.

/// A compiled glob pattern.
public struct Glob: Sendable, Hashable {
    public let pattern: String
    private let bytes: [UInt8]

    public init(_ pattern: String) {
        self.pattern = pattern
        var p = Array(pattern.utf8)
        while p.starts(with: [UInt8(ascii: "."), UInt8(ascii: "/")]) { p.removeFirst(2) }
        while p.first == UInt8(ascii: "/") { p.removeFirst() }
        self.bytes = p
    }

    /// True when the glob matches `path` or one of its tails that start after a `/`.
    public func matches(_ path: String) -> Bool {
        let s = Array(path.utf8)
        var start = 0
        while start <= s.count {
            if Self.match(bytes, 0, s, start) { return true }
            guard let slash = s[start...].firstIndex(of: UInt8(ascii: "/")) else { return false }
            start = slash + 1
        }
        return false
    }

    private static let star = UInt8(ascii: "*"), slash = UInt8(ascii: "/")

    /// Backtracking match of p[pi...] against s[si...] (patterns are short, paths are short).
    private static func match(_ p: [UInt8], _ pi: Int, _ s: [UInt8], _ si: Int) -> Bool {
        var pi = pi
        var si = si
        while pi < p.count {
            let c = p[pi]
            if c == star {
                if pi + 1 < p.count && p[pi + 1] == star {
                    let next = pi + 2
                    if next < p.count && p[next] == slash {
                        // `**/`: zero or more whole folders.
                        if match(p, next + 1, s, si) { return true }
                        var k = si
                        while k < s.count {
                            if s[k] == slash && match(p, next + 1, s, k + 1) { return true }
                            k += 1
                        }
                        return false
                    }
                    // `**` elsewhere: anything, slashes included.
                    for k in si...s.count where match(p, next, s, k) { return true }
                    return false
                }
                // `*`: a run of characters within one folder name.
                var k = si
                while true {
                    if match(p, pi + 1, s, k) { return true }
                    if k == s.count || s[k] == slash { return false }
                    k += 1
                }
            }
            guard si < s.count else { return false }
            switch c {
            case UInt8(ascii: "?"):
                if s[si] == slash { return false }
                pi += 1
            case UInt8(ascii: "["):
                guard let (matched, end) = matchClass(p, pi, s[si]) else {
                    if s[si] != c { return false }
                    pi += 1
                    break
                }
                if !matched || s[si] == slash { return false }
                pi = end
            case UInt8(ascii: "\\") where pi + 1 < p.count:
                if s[si] != p[pi + 1] { return false }
                pi += 2
            default:
                if s[si] != c { return false }
                pi += 1
            }
            si += 1
        }
        return si == s.count
    }

    /// Matches `ch` against the class starting at p[open] == "["; nil when the class is unterminated
    /// (then "[" is a literal). Returns whether it matched and the index after "]".
    private static func matchClass(_ p: [UInt8], _ open: Int, _ ch: UInt8) -> (Bool, Int)? {
        var i = open + 1
        var negate = false
        if i < p.count && (p[i] == UInt8(ascii: "!") || p[i] == UInt8(ascii: "^")) {
            negate = true
            i += 1
        }
        var matched = false
        var first = true
        while i < p.count {
            if p[i] == UInt8(ascii: "]") && !first { return (matched != negate, i + 1) }
            first = false
            let lo = p[i]
            if i + 2 < p.count && p[i + 1] == UInt8(ascii: "-") && p[i + 2] != UInt8(ascii: "]") {
                if lo <= ch && ch <= p[i + 2] { matched = true }
                i += 3
            } else {
                if lo == ch { matched = true }
                i += 1
            }
        }
        return nil
    }
}

/// The include/exclude decision for one path.
struct PathFilter: Sendable {
    let include: [Glob]
    let exclude: [Glob]

    init(include: [String], exclude: [String]) {
        self.include = include.map(Glob.init)
        self.exclude = exclude.map(Glob.init)
    }

    func accepts(_ path: String) -> Bool {
        if !include.isEmpty && !include.contains(where: { $0.matches(path) }) { return false }
        return !exclude.contains(where: { $0.matches(path) })
    }
}
