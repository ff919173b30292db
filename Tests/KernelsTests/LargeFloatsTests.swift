// The engine's arena allocator: huge-page alignment from 2 MiB up, zero fill, every float usable.
import Kernels
import Testing

struct LargeFloatsTests {
    @Test(arguments: [0, 1, 1000, LargeFloats.hugePageBytes / 4 - 1, LargeFloats.hugePageBytes / 4 + 3])
    func zerosAreAlignedAndUsable(count: Int) {
        let buffer = LargeFloats.zeros(count)
        defer { LargeFloats.deallocate(buffer.baseAddress) }
        #expect(buffer.count == count)
        let address = Int(bitPattern: buffer.baseAddress)
        let huge = count * 4 >= LargeFloats.hugePageBytes
        #expect(address % (huge ? LargeFloats.hugePageBytes : 64) == 0)
        #expect(buffer.allSatisfy { $0 == 0 })
        for i in 0..<count { buffer[i] = Float(i) }
        #expect(count == 0 || buffer[count - 1] == Float(count - 1))
    }
}
