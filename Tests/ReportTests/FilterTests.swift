// The --where language: tokens, precedence, fields, error messages with columns, and SQL that
// carries every user value as an argument.
import Store
import Testing

@testable import Report

struct FilterTests {
    let lr = Filter.compare(.param("train.lr"), .less, .number(0.003))
    let sb = Filter.compare(.param("model.attention.variant"), .equal, .string("stick_breaking"))
    let note = Filter.compare(.tag("note"), .contains, .string("baseline"))

    @Test func andBindsTighterThanOr() throws {
        let e = try Filter.parse(
            #"model.attention.variant = "stick_breaking" or train.lr < 0.003 and tag.note ~ "baseline""#)
        #expect(e == .or(sb, .and(lr, note)))
    }

    @Test func parenthesesAndNot() throws {
        let e = try Filter.parse(
            #"not (model.attention.variant = 'stick_breaking' or train.lr < 3e-3) and not not tag.note ~ "baseline""#)
        #expect(e == .and(.not(.or(sb, lr)), .not(.not(note))))
    }

    @Test func fields() throws {
        #expect(Field.named("val/loss") == .metric("val/loss", .last))
        #expect(Field.named("val/loss.min") == .metric("val/loss", .min))
        #expect(Field.named("train/tokensPerSecond.max") == .metric("train/tokensPerSecond", .max))
        #expect(Field.named("tag.note") == .tag("note"))
        #expect(Field.named("run.state") == .run(.state))
        #expect(Field.named("run.nope") == nil)
        #expect(Field.named("train.lr") == .param("train.lr"))
        let q = try Filter.parse("`task/acc/1x/[0,L)`.min >= 0.5 and model.n_layer != 4 and train.compile = false")
        #expect(
            q
                == .and(
                    .and(
                        .compare(.metric("task/acc/1x/[0,L)", .min), .greaterOrEqual, .number(0.5)),
                        .compare(.param("model.n_layer"), .notEqual, .number(4))),
                    .compare(.param("train.compile"), .equal, .number(0))))
    }

    func error(_ text: String) -> ReportError? {
        #expect(throws: ReportError.self) { try Filter.parse(text) }
        do { _ = try Filter.parse(text) } catch let e as ReportError { return e } catch {}
        return nil
    }

    @Test func errorsPointAtTheBadToken() {
        #expect(
            error("train.lr < and x = 1")
                == .badFilter(
                    expression: "train.lr < and x = 1", column: 12,
                    message: "expected a number or a quoted string after '<', found 'and'"))
        #expect(
            error("(train.lr < 1")
                == .badFilter(
                    expression: "(train.lr < 1", column: 14,
                    message: "expected ')' to close the '(' at column 1, found the end of the expression"))
        #expect(
            error(#"tag.note = "open"#)?.description == """
                --where: unterminated string (close it with ") at column 12
                  tag.note = "open
                             ^
                """)
        #expect(
            error("train.lr 3")
                == .badFilter(
                    expression: "train.lr 3", column: 10,
                    message: "expected a comparison (= != < <= > >= ~) after 'train.lr', found '3'"))
        #expect(error("val/loss < \"x\"")?.description.contains("compares with numbers") == true)
        #expect(error("tag.note ~ 3")?.description.contains("put the value in quotes") == true)
        #expect(error("train.lr < 1 train.seed = 2")?.description.contains("column 14") == true)
        #expect(error("train.lr # 1")?.description.contains("unexpected character '#' at column 10") == true)
        #expect(error("run.bogus = 1")?.description.contains("unknown run column 'run.bogus'") == true)
        #expect(error("   ")?.description.contains("empty expression") == true)
        #expect(error("train.lr ! 1")?.description.contains("'!' must be followed by '='") == true)
    }
}
