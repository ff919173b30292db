// CSV exports never hand a spreadsheet a formula: text cells starting with = + - @ (or tab, CR)
// get a leading single quote (OWASP's advice), while numbers such as -0.5 and -inf stay numbers.
import Foundation
import Store
import Testing

@testable import Report

struct CSVInjectionTests {
    @Test func formulasAreNeutralisedAndNumbersKept() {
        #expect(TextRenderer.csvField("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0")
        #expect(TextRenderer.csvField("+1+2") == "'+1+2")
        #expect(TextRenderer.csvField("-1+cmd") == "'-1+cmd")
        #expect(TextRenderer.csvField("@SUM(A1:A9)") == "'@SUM(A1:A9)")
        #expect(TextRenderer.csvField("\t=1") == "'\t=1")
        #expect(TextRenderer.csvField("\r=1") == "\"'\r=1\"")
        #expect(TextRenderer.csvField("=HYPERLINK(\"x\",\"y\")") == "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"")
        for number in ["-0.5", "-inf", "+3", "-1e-05", "nan", "inf", "12", "a=b", "x-1"] {
            #expect(TextRenderer.csvField(number) == number)
        }
    }

    @Test func exportedRunNamesAndKeysAreNeutralised() throws {
        let db = try TrackerDB(home: Fixture.tempDir())
        let attack = "=cmd|' /C calc'!A0"
        let lines = """
            {"run": "\(attack)", "tags": {"note": "@x"}}
            {"run": "\(attack)", "step": 1, "metrics": {"-2+3/x": -0.5, "train/loss": "-inf"}}
            """
        _ = try Importer.importLines(lines, file: "attack.jsonl", into: db)
        let out = try Exporter.export(RunReader(db: db), runs: [attack], to: Fixture.tempDir())
        let csv = try String(contentsOfFile: out[0].files[0], encoding: .utf8)
        #expect(
            csv == """
                run,key,step,value
                '=cmd|' /C calc'!A0,'-2+3/x,1,-0.5
                '=cmd|' /C calc'!A0,train/loss,1,-inf

                """)
        let list = try Reports.runList(RunReader(db: db), RunListQuery(selection: RunSelection())).render(.csv)
        #expect(list.contains("'=cmd|' /C calc'!A0") && !list.contains(",=cmd"), "\(list)")
    }
}
