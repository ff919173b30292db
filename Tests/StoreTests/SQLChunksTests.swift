// IN lists are split under the engines' limits on bound parameters (SQLite 32,766).
import Testing

@testable import Store

struct SQLChunksTests {
    @Test func slicesKeepEveryValueInOrderWithinTheSize() {
        for count in [0, 1, 499, 500, 501, 32_767, 70_001] {
            let values = (0..<count).map(Int64.init)
            let chunks = sqlChunks(values)
            #expect(chunks.allSatisfy { !$0.isEmpty && $0.count <= 500 })
            #expect(chunks.flatMap { $0 } == values)
            #expect(chunks.count == (count + 499) / 500)
        }
        #expect(sqlChunks(Array(0..<10), size: 3).map(Array.init) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]])
    }
}
