//! G.711 companding (ITU-T G.711, 1988): PCMU (mu-law) and PCMA (A-law)
//! between 16-bit linear samples and 8-bit codes.
//!
//! Linear values use the 16-bit scale of WAV files. Mu-law works on 14 bits
//! and A-law on 13 bits, so the low bits of a sample are dropped on encoding
//! and decoded values sit in the middle of each quantisation step.

/// A G.711 variant, with its static RTP payload type (RFC 3551).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Mu-law, payload type 0, used in North America and Japan.
    Pcmu,
    /// A-law, payload type 8, used in Europe and most other countries.
    Pcma,
}

/// RTP clock rate of both G.711 variants, in samples per second.
pub const CLOCK_RATE: u32 = 8000;

impl Codec {
    /// Returns the static RTP payload type (RFC 3551).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// Returns the codec for an SDP encoding name, ignoring case.
    pub fn from_encoding_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }

    /// Returns the SDP encoding name.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// Returns the code of a zero sample, used as comfort silence.
    pub fn silence(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }

    /// Encodes one linear sample.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => linear_to_ulaw(sample),
            Codec::Pcma => linear_to_alaw(sample),
        }
    }

    /// Decodes one code to a linear sample.
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_to_linear(code),
            Codec::Pcma => alaw_to_linear(code),
        }
    }

    /// Encodes `samples` and appends the codes to `out`.
    pub fn encode_into(self, samples: &[i16], out: &mut Vec<u8>) {
        out.extend(samples.iter().map(|&sample| self.encode(sample)));
    }

    /// Decodes `codes` and appends the samples to `out`.
    pub fn decode_into(self, codes: &[u8], out: &mut Vec<i16>) {
        out.extend(codes.iter().map(|&code| self.decode(code)));
    }
}

/// Offset added to the magnitude before mu-law segmentation, so that every
/// segment starts at a power of two (G.711 section 3.2, in 16-bit scale).
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude that mu-law encodes without overflowing segment 7.
const ULAW_CLIP: i32 = 32635;

/// Encodes a linear sample as mu-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    // Negative values use the one's complement of their magnitude, as the
    // ITU-T G.191 reference encoder does, so -1 encodes as negative zero.
    let value = i32::from(sample);
    let (sign, magnitude) = if value < 0 {
        (0x80, -value - 1)
    } else {
        (0x00, value)
    };
    let magnitude = magnitude.min(ULAW_CLIP) + ULAW_BIAS;
    // The biased magnitude is at least 0x84, so its highest set bit is bit 7
    // or above. That bit's position minus 7 is the segment number.
    let highest_bit = 31 - magnitude.leading_zeros() as i32;
    let segment = (highest_bit - 7).clamp(0, 7);
    let mantissa = (magnitude >> (segment + 3)) & 0x0F;
    let code = sign | (segment << 4) | mantissa;
    // Mu-law transmits every bit inverted.
    !(code as u8)
}

/// Decodes a mu-law code to a linear sample.
pub fn ulaw_to_linear(code: u8) -> i16 {
    let code = i32::from(!code);
    let segment = (code >> 4) & 0x07;
    let mantissa = code & 0x0F;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << segment) - ULAW_BIAS;
    let value = if code & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    };
    // The largest magnitude is 32124, so the value always fits.
    value as i16
}

/// Encodes a linear sample as A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    // A-law works on 13 bits. Negative values use the one's complement of
    // their magnitude, so -1 and 0 land in the two innermost steps.
    let value = i32::from(sample) >> 3;
    let (sign, magnitude) = if value >= 0 {
        (0x80, value)
    } else {
        (0x00, -value - 1)
    };
    let magnitude = magnitude.min(0x0FFF);
    let code = if magnitude < 32 {
        sign | (magnitude >> 1)
    } else {
        let highest_bit = 31 - magnitude.leading_zeros() as i32;
        let segment = highest_bit - 4;
        let mantissa = (magnitude >> segment) & 0x0F;
        sign | (segment << 4) | mantissa
    };
    // A-law transmits the even bits inverted.
    (code as u8) ^ 0x55
}

/// Decodes an A-law code to a linear sample.
pub fn alaw_to_linear(code: u8) -> i16 {
    let code = i32::from(code ^ 0x55);
    let segment = (code >> 4) & 0x07;
    let mantissa = code & 0x0F;
    let magnitude = if segment == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (segment - 1)
    };
    let value = if code & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    };
    // The largest magnitude is 32256, so the value always fits.
    value as i16
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    /// Decoder output of the last code of each segment, from the tables of
    /// G.711 (mu-law table 2a in 14-bit units, A-law table 1a in 13-bit
    /// units), scaled to 16 bits.
    const ULAW_SEGMENT_ENDS: [i32; 8] = [30, 93, 219, 471, 975, 1983, 3999, 8031];
    const ALAW_SEGMENT_ENDS: [i32; 8] = [31, 63, 126, 252, 504, 1008, 2016, 4032];

    #[test]
    fn ulaw_known_codes() {
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
    }

    #[test]
    fn ulaw_segment_ends_match_table() {
        for (segment, &end) in ULAW_SEGMENT_ENDS.iter().enumerate() {
            // Positive code of segment `segment` with mantissa 15, inverted.
            let code = !(((segment as u8) << 4) | 0x0F);
            assert_eq!(
                i32::from(ulaw_to_linear(code)),
                end * 4,
                "segment {segment}"
            );
            assert_eq!(
                i32::from(ulaw_to_linear(code & 0x7F)),
                -end * 4,
                "segment {segment}"
            );
        }
    }

    #[test]
    fn alaw_known_codes() {
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn alaw_segment_ends_match_table() {
        for (segment, &end) in ALAW_SEGMENT_ENDS.iter().enumerate() {
            let code = (0x80 | ((segment as u8) << 4) | 0x0F) ^ 0x55;
            assert_eq!(
                i32::from(alaw_to_linear(code)),
                end * 8,
                "segment {segment}"
            );
            assert_eq!(
                i32::from(alaw_to_linear(code ^ 0x80)),
                -end * 8,
                "segment {segment}"
            );
        }
    }

    #[test]
    fn ulaw_codes_round_trip() {
        for code in 0..=255u8 {
            // 0x7F is negative zero, which encodes back as positive zero.
            let expected = if code == 0x7F { 0xFF } else { code };
            assert_eq!(
                linear_to_ulaw(ulaw_to_linear(code)),
                expected,
                "code {code:#04x}"
            );
        }
    }

    #[test]
    fn alaw_codes_round_trip() {
        for code in 0..=255u8 {
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "code {code:#04x}"
            );
        }
    }

    #[test]
    fn quantisation_is_monotonic_and_bounded() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut previous = i16::MIN;
            for sample in i16::MIN..=i16::MAX {
                let decoded = codec.decode(codec.encode(sample));
                assert!(decoded >= previous, "{codec:?} at {sample}");
                previous = decoded;
                // The error stays within one step, and a step is at most
                // a sixteenth of the magnitude plus the innermost step.
                let error = (i32::from(decoded) - i32::from(sample)).abs();
                let bound = i32::from(sample).abs() / 16 + 16;
                let clipped = i32::from(sample).abs() > 32124;
                assert!(error <= bound || clipped, "{codec:?} at {sample}: {error}");
            }
        }
    }

    /// Compares with audio-codec-algorithms, whose decoding tables come
    /// from the ITU-T G.191 reference tools.
    #[test]
    fn matches_reference_implementation() {
        for code in 0..=255u8 {
            assert_eq!(
                ulaw_to_linear(code),
                audio_codec_algorithms::decode_ulaw(code),
                "mu-law {code:#04x}"
            );
            assert_eq!(
                alaw_to_linear(code),
                audio_codec_algorithms::decode_alaw(code),
                "A-law {code:#04x}"
            );
        }
        for sample in i16::MIN..=i16::MAX {
            assert_eq!(
                linear_to_ulaw(sample),
                audio_codec_algorithms::encode_ulaw(sample),
                "mu-law {sample}"
            );
            assert_eq!(
                linear_to_alaw(sample),
                audio_codec_algorithms::encode_alaw(sample),
                "A-law {sample}"
            );
        }
    }

    #[test]
    fn silence_decodes_near_zero() {
        assert_eq!(Codec::Pcmu.decode(Codec::Pcmu.silence()), 0);
        assert_eq!(Codec::Pcma.decode(Codec::Pcma.silence()), 8);
    }
}
