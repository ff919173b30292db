// The --where language: a hand-written tokenizer and recursive-descent parser. Grammar, lowest
// precedence first (so `a or b and not c` reads `a or (b and (not c))`):
//
//   expr       := andExpr ("or" andExpr)*
//   andExpr    := notExpr ("and" notExpr)*
//   notExpr    := "not" notExpr | "(" expr ")" | comparison
//   comparison := field ("=" | "!=" | "<" | "<=" | ">" | ">=" | "~") literal
//   literal    := number | "string" | 'string' | true | false
//
// A field is a parameter (`train.lr`), a tag (`tag.note`), a run column (`run.name`, `run.state`,
// `run.id`, `run.experiment`, `run.origin`) or a metric (any name with a '/', e.g. `val/loss.min`;
// `.last` is the default; names with other characters go in backticks: `lengen/loss/4x/[0,L)`.max).
// `~` is substring match. The AST (Filter, Field, Comparison, Literal) is Store's, which compiles it
// to parameterised SQL (Store/RunFilter.swift).
// An expression holds at most `Filter.maxComparisons` comparisons, nested (parentheses and `not`)
// at most `Filter.maxDepth` deep: past that, a clear error instead of a deep recursion here or
// SQLite's "parser stack overflow" (its parser stack holds 100 entries; a level of
// `(a or b and not (...))` takes about 7 of them, so 32 levels let 15 of those overflow it).

import Basics
import Store

extension Filter {
    /// The most comparisons one expression may hold.
    public static let maxComparisons = 500
    /// The deepest nesting of parentheses and `not` one expression may have: SQLite's parser
    /// takes every shape of that depth (FilterFuzzTests, deepNesting...).
    public static let maxDepth = 20

    /// Parses `text`, throwing `ReportError.badFilter` with the 1-based column of the bad token.
    public static func parse(_ text: String) throws -> Filter {
        var parser = FilterParser(text: text, tokens: try FilterTokenizer.tokens(text))
        return try parser.parseAll()
    }
}

/// One token with the 1-based column where it starts.
struct FilterToken: Equatable {
    enum Kind: Equatable {
        case identifier(String, quoted: Bool)
        case number(Double)
        case string(String)
        case op(Comparison)
        case open, close, and, or, not
        case boolean(Bool)
        case end
    }
    let kind: Kind
    let column: Int
}

enum FilterTokenizer {
    static func tokens(_ text: String) throws -> [FilterToken] {
        let chars = Array(text)
        var out: [FilterToken] = []
        var i = 0
        while i < chars.count {
            if chars[i].isWhitespace {
                i += 1
                continue
            }
            let fail = { (message: String) in ReportError.badFilter(expression: text, column: i + 1, message: message) }
            let scanned = try token(chars, at: i, fail: fail)
            out.append(.init(kind: scanned.kind, column: i + 1))
            i = scanned.next
        }
        out.append(.init(kind: .end, column: chars.count + 1))
        return out
    }

    /// A token read from the text: its kind and the index just after it.
    typealias Scanned = (kind: FilterToken.Kind, next: Int)
    /// Makes the error for the token being read (its column is the token's).
    typealias Failure = (String) -> ReportError

    /// The token starting at `i` (which is not whitespace).
    private static func token(_ chars: [Character], at i: Int, fail: Failure) throws -> Scanned {
        let c = chars[i]
        if c == "(" { return (.open, i + 1) }
        if c == ")" { return (.close, i + 1) }
        if "=<>!~".contains(c) { return try comparison(chars, at: i, fail: fail) }
        if c == "\"" || c == "'" { return try quotedString(chars, at: i, fail: fail) }
        if c.isNumber || c == "-" || c == "." { return try number(chars, at: i, fail: fail) }
        if c == "`" { return try quotedName(chars, at: i, fail: fail) }
        if c.isLetter || c == "_" { return word(chars, at: i) }
        throw fail("unexpected character '\(c)'")
    }

    /// A comparison operator: two characters when they make one (`==` is `=`), else one.
    private static func comparison(_ chars: [Character], at i: Int, fail: Failure) throws -> Scanned {
        let c = chars[i]
        let two = i + 1 < chars.count ? String([c, chars[i + 1]]) : ""
        if let op = Comparison(rawValue: two) { return (.op(op), i + 2) }
        if c == "=" && two == "==" { return (.op(.equal), i + 2) }
        guard let op = Comparison(rawValue: String(c)) else {
            throw fail("'!' must be followed by '=' (use 'not' to negate)")
        }
        return (.op(op), i + 1)
    }

    /// A string in single or double quotes; a backslash takes the next character as it is.
    private static func quotedString(_ chars: [Character], at i: Int, fail: Failure) throws -> Scanned {
        let quote = chars[i]
        var s = ""
        var j = i + 1
        while j < chars.count {
            if chars[j] == "\\", j + 1 < chars.count {
                s.append(chars[j + 1])
                j += 2
                continue
            }
            if chars[j] == quote { return (.string(s), j + 1) }
            s.append(chars[j])
            j += 1
        }
        throw fail("unterminated string (close it with \(quote))")
    }

    /// A finite number, with an optional sign, fraction and exponent.
    private static func number(_ chars: [Character], at i: Int, fail: Failure) throws -> Scanned {
        var j = i + 1
        while j < chars.count,
            chars[j].isNumber || chars[j] == "." || chars[j] == "e" || chars[j] == "E"
                || ((chars[j] == "-" || chars[j] == "+") && (chars[j - 1] == "e" || chars[j - 1] == "E"))
        {
            j += 1
        }
        let s = String(chars[i..<j])
        guard let v = Double(s), v.isFinite else { throw fail("'\(s)' is not a number") }
        return (.number(v), j)
    }

    /// A `quoted name`, with any name characters that follow the closing backtick.
    private static func quotedName(_ chars: [Character], at i: Int, fail: Failure) throws -> Scanned {
        guard let close = chars[(i + 1)...].firstIndex(of: "`") else {
            throw fail("unterminated `quoted name` (close it with `)")
        }
        var name = String(chars[(i + 1)..<close])
        var j = close + 1
        while j < chars.count, isNameCharacter(chars[j]) {
            name.append(chars[j])
            j += 1
        }
        return (.identifier(name, quoted: true), j)
    }

    /// A keyword (and, or, not, true, false; any case) or a bare name.
    private static func word(_ chars: [Character], at i: Int) -> Scanned {
        var j = i + 1
        while j < chars.count, isNameCharacter(chars[j]) { j += 1 }
        let word = String(chars[i..<j])
        switch word.lowercased() {
        case "and": return (.and, j)
        case "or": return (.or, j)
        case "not": return (.not, j)
        case "true": return (.boolean(true), j)
        case "false": return (.boolean(false), j)
        default: return (.identifier(word, quoted: false), j)
        }
    }

    static func isNameCharacter(_ c: Character) -> Bool {
        c.isLetter || c.isNumber || c == "_" || c == "." || c == "/" || c == "-"
    }
}

struct FilterParser {
    let text: String
    let tokens: [FilterToken]
    var position = 0
    /// Parentheses and `not`s open around the current token.
    var depth = 0
    var comparisons = 0

    init(text: String, tokens: [FilterToken]) {
        self.text = text
        self.tokens = tokens
    }

    var current: FilterToken { tokens[position] }

    func fail(_ message: String, _ token: FilterToken? = nil) -> ReportError {
        .badFilter(expression: text, column: (token ?? current).column, message: message)
    }

    mutating func parseAll() throws -> Filter {
        if current.kind == .end { throw fail("empty expression: expected a comparison such as train.lr < 0.003") }
        let e = try parseOr()
        if current.kind != .end { throw fail("expected 'and', 'or' or the end, found \(describe(current))") }
        return e
    }

    mutating func parseOr() throws -> Filter {
        var left = try parseAnd()
        while current.kind == .or {
            position += 1
            left = .or(left, try parseAnd())
        }
        return left
    }

    mutating func parseAnd() throws -> Filter {
        var left = try parseNot()
        while current.kind == .and {
            position += 1
            left = .and(left, try parseNot())
        }
        return left
    }

    mutating func parseNot() throws -> Filter {
        switch current.kind {
        case .not, .open:
            if depth >= Filter.maxDepth {
                throw fail(
                    "nested more than \(Filter.maxDepth) deep (parentheses and 'not'); write the expression flatter")
            }
            depth += 1
            defer { depth -= 1 }
            let open = current
            position += 1
            if open.kind == .not { return .not(try parseNot()) }
            let inner = try parseOr()
            guard current.kind == .close else {
                throw fail("expected ')' to close the '(' at column \(open.column), found \(describe(current))")
            }
            position += 1
            return inner
        default:
            return try parseComparison()
        }
    }

    mutating func parseComparison() throws -> Filter {
        let fieldToken = current
        guard case .identifier(let name, let quoted) = fieldToken.kind else {
            throw fail("expected a parameter, tag or metric name, found \(describe(current))")
        }
        guard let field = Field.named(name, quoted: quoted) else {
            let known = Field.RunColumn.allCases.map { "run.\($0.rawValue)" }.joined(separator: ", ")
            throw fail("unknown run column '\(name)' (known: \(known))", fieldToken)
        }
        if comparisons >= Filter.maxComparisons {
            throw fail(
                "more than \(Filter.maxComparisons) comparisons; narrow the runs with --experiment or --state, or match many names at once with '~'",
                fieldToken)
        }
        comparisons += 1
        position += 1
        guard case .op(let op) = current.kind else {
            throw fail("expected a comparison (= != < <= > >= ~) after '\(name)', found \(describe(current))")
        }
        position += 1
        let valueToken = current
        let literal: Literal
        switch valueToken.kind {
        case .number(let v): literal = .number(v)
        case .string(let s): literal = .string(s)
        case .boolean(let b): literal = .number(b ? 1 : 0)
        default: throw fail("expected a number or a quoted string after '\(op.rawValue)', found \(describe(current))")
        }
        position += 1
        if op == .contains, case .number = literal {
            throw fail("'~' matches a substring: put the value in quotes", valueToken)
        }
        if case .metric = field, case .string = literal {
            throw fail("metric '\(name)' compares with numbers, not strings", valueToken)
        }
        return .compare(field, op, literal)
    }

    func describe(_ t: FilterToken) -> String {
        switch t.kind {
        case .identifier(let s, _): return "'\(s)'"
        case .number(let v): return "'\(formatShortest(v))'"
        case .string(let s): return "\"\(s)\""
        case .op(let op): return "'\(op.rawValue)'"
        case .open: return "'('"
        case .close: return "')'"
        case .and: return "'and'"
        case .or: return "'or'"
        case .not: return "'not'"
        case .boolean(let b): return "'\(b)'"
        case .end: return "the end of the expression"
        }
    }
}
