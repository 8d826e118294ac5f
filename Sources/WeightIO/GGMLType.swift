/// The tensor element types of ggml (`enum ggml_type` in ggml.h) that a GGUF file can name, with
/// their block layout. Values are the numbers written in the file.
///
/// Quantized types store blocks of `blockSize` consecutive elements of a row in `blockBytes` bytes:
/// Q8_0 is 32 elements in 34 bytes (an F16 scale, then 32 signed bytes).
public enum GGMLType: UInt32, CaseIterable, Sendable {
    case F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9
    case Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15
    case IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23
    case I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39
    case NVFP4 = 40, Q1_0 = 41

    /// Elements per block (1 for plain types).
    public var blockSize: Int {
        switch self {
        case .F32, .F16, .BF16, .I8, .I16, .I32, .I64, .F64: return 1
        case .Q4_0, .Q4_1, .Q5_0, .Q5_1, .Q8_0, .Q8_1, .IQ4_NL, .MXFP4: return 32
        case .NVFP4: return 64
        case .Q1_0: return 128
        default: return 256
        }
    }

    /// Bytes per block (ggml's `type_size`, as gguf-py's `GGML_QUANT_SIZES` lists it).
    public var blockBytes: Int {
        switch self {
        case .F32, .I32: return 4
        case .F16, .BF16, .I16: return 2
        case .I8: return 1
        case .I64, .F64: return 8
        case .Q4_0: return 18
        case .Q4_1: return 20
        case .Q5_0: return 22
        case .Q5_1: return 24
        case .Q8_0: return 34
        case .Q8_1: return 40  // as gguf-py's GGML_QUANT_SIZES
        case .Q2_K: return 84
        case .Q3_K: return 110
        case .Q4_K: return 144
        case .Q5_K: return 176
        case .Q6_K: return 210
        case .Q8_K: return 292
        case .IQ2_XXS: return 66
        case .IQ2_XS: return 74
        case .IQ3_XXS: return 98
        case .IQ1_S: return 50
        case .IQ4_NL: return 18
        case .IQ3_S: return 110
        case .IQ2_S: return 82
        case .IQ4_XS: return 136
        case .IQ1_M: return 56
        case .TQ1_0: return 54
        case .TQ2_0: return 66
        case .MXFP4: return 17
        case .NVFP4: return 36
        case .Q1_0: return 18
        }
    }

    /// Whether `GGUFDequantize` turns this type into Float.
    public var isDequantizable: Bool {
        switch self {
        case .F32, .F16, .BF16, .Q4_0, .Q4_1, .Q5_0, .Q5_1, .Q8_0, .Q4_K, .Q5_K, .Q6_K: return true
        default: return false
        }
    }

    /// The types this project dequantizes, for messages.
    public static var dequantizable: [GGMLType] { allCases.filter(\.isDequantizable) }
}
