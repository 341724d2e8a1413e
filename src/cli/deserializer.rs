//! Kafka's built-in deserializers, by their class names, for
//! console-consumer's `--key-deserializer` / `--value-deserializer` (and the
//! formatter's `key.deserializer` / `value.deserializer` properties): bytes
//! in, the text Java's `toString()` of the value would print out.

/// Why a record could not be turned into text; Kafka's `SerializationException`.
#[derive(Debug, thiserror::Error)]
#[error("org.apache.kafka.common.errors.SerializationException: {0}")]
pub struct SerializationError(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deserializer {
    /// Bytes as they are (also ByteArray, ByteBuffer).
    Raw,
    String,
    /// Kafka's `Bytes.toString()`: printable ASCII as is, the rest `\xNN`.
    Bytes,
    Short,
    Integer,
    Long,
    Float,
    Double,
    Uuid,
    Void,
}

const PACKAGE: &str = "org.apache.kafka.common.serialization.";

impl Deserializer {
    /// The deserializer for a Kafka class name.
    pub fn for_class(class: &str) -> Result<Self, String> {
        let name = class.trim().strip_prefix(PACKAGE).unwrap_or("");
        Ok(match name {
            "StringDeserializer" => Self::String,
            "ByteArrayDeserializer" | "ByteBufferDeserializer" => Self::Raw,
            "BytesDeserializer" => Self::Bytes,
            "ShortDeserializer" => Self::Short,
            "IntegerDeserializer" => Self::Integer,
            "LongDeserializer" => Self::Long,
            "FloatDeserializer" => Self::Float,
            "DoubleDeserializer" => Self::Double,
            "UUIDDeserializer" => Self::Uuid,
            "VoidDeserializer" => Self::Void,
            _ => {
                return Err(format!(
                    "java.lang.ClassNotFoundException: {class} (kafka-rs has the {PACKAGE}* deserializers: String, ByteArray, ByteBuffer, Bytes, Short, Integer, Long, Float, Double, UUID, Void)"
                ))
            }
        })
    }

    fn fixed<const N: usize>(data: &[u8], what: &str) -> Result<[u8; N], SerializationError> {
        data.try_into().map_err(|_| {
            SerializationError(format!("Size of data received by {what}Deserializer is not {N}"))
        })
    }

    /// The text of a non-null value.
    pub fn deserialize(self, data: &[u8]) -> Result<Vec<u8>, SerializationError> {
        Ok(match self {
            Self::Raw => data.to_vec(),
            Self::String => String::from_utf8_lossy(data).into_owned().into_bytes(),
            Self::Bytes => bytes_to_string(data).into_bytes(),
            Self::Short => i16::from_be_bytes(Self::fixed(data, "Short")?).to_string().into_bytes(),
            Self::Integer => {
                i32::from_be_bytes(Self::fixed(data, "Integer")?).to_string().into_bytes()
            }
            Self::Long => i64::from_be_bytes(Self::fixed(data, "Long")?).to_string().into_bytes(),
            Self::Float => {
                let v = f32::from_be_bytes(Self::fixed(data, "Float")?);
                java_double(v as f64, &format!("{v:e}")).into_bytes()
            }
            Self::Double => {
                let v = f64::from_be_bytes(Self::fixed(data, "Double")?);
                java_double(v, &format!("{v:e}")).into_bytes()
            }
            Self::Uuid => {
                let text = std::str::from_utf8(data)
                    .map_err(|_| SerializationError("Error parsing data into UUID".into()))?;
                let id = uuid::Uuid::try_parse(text)
                    .map_err(|_| SerializationError("Error parsing data into UUID".into()))?;
                id.hyphenated().to_string().into_bytes()
            }
            Self::Void => {
                return Err(SerializationError(
                    "Data should be null for a VoidDeserializer.".into(),
                ))
            }
        })
    }
}

/// `org.apache.kafka.common.utils.Bytes.toString`.
fn bytes_to_string(data: &[u8]) -> String {
    let mut s = String::new();
    for &b in data {
        if (b' '..=b'~').contains(&b) && b != b'\\' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02X}"));
        }
    }
    s
}

/// Java's `Double.toString`: plain decimals from 10^-3 up to 10^7, else
/// `d.dddE±n`; `shortest` is Rust's `{:e}` of the same value, which gives
/// the shortest digits that read back to it.
fn java_double(v: f64, shortest: &str) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let (sign, rest) = match shortest.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", shortest),
    };
    let Some((mantissa, exp)) = rest.split_once('e') else { return shortest.to_string() };
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let a = v.abs();
    if (1e-3..1e7).contains(&a) {
        let s = if exp >= 0 {
            let int_len = exp as usize + 1;
            let padded = format!("{digits:0<int_len$}");
            let (int, frac) = padded.split_at(int_len);
            format!("{int}.{}", if frac.is_empty() { "0" } else { frac })
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        };
        format!("{sign}{s}")
    } else {
        let (first, frac) = digits.split_at(1);
        format!("{sign}{first}.{}E{exp}", if frac.is_empty() { "0" } else { frac })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(d: Deserializer, data: &[u8]) -> String {
        String::from_utf8(d.deserialize(data).unwrap()).unwrap()
    }

    #[test]
    fn numbers_print_as_java_prints_them() {
        let cases: [(Deserializer, Vec<u8>, &str, &str); 9] = [
            (Deserializer::Integer, 42i32.to_be_bytes().to_vec(), "42", "big-endian int"),
            (Deserializer::Integer, (-1i32).to_be_bytes().to_vec(), "-1", "signed"),
            (
                Deserializer::Long,
                1_700_000_000_000i64.to_be_bytes().to_vec(),
                "1700000000000",
                "long",
            ),
            (Deserializer::Short, 7i16.to_be_bytes().to_vec(), "7", "short"),
            (Deserializer::Double, 1.0f64.to_be_bytes().to_vec(), "1.0", "Java keeps .0"),
            (Deserializer::Double, 3.25f64.to_be_bytes().to_vec(), "3.25", "plain decimal"),
            (
                Deserializer::Double,
                1e10f64.to_be_bytes().to_vec(),
                "1.0E10",
                "10^7 and up: E notation",
            ),
            (
                Deserializer::Double,
                0.0001f64.to_be_bytes().to_vec(),
                "1.0E-4",
                "below 10^-3: E notation",
            ),
            (Deserializer::Float, 0.5f32.to_be_bytes().to_vec(), "0.5", "float"),
        ];
        for (d, data, want, why) in cases {
            assert_eq!(text(d, &data), want, "{why}");
        }
    }

    #[test]
    fn wrong_sizes_are_kafkas_serialization_errors() {
        let e = Deserializer::Integer.deserialize(b"abc").unwrap_err();
        assert_eq!(
            e.to_string(),
            "org.apache.kafka.common.errors.SerializationException: Size of data received by IntegerDeserializer is not 4"
        );
        let e = Deserializer::Long.deserialize(b"abc").unwrap_err();
        assert!(e.to_string().ends_with("LongDeserializer is not 8"), "{e}");
        assert!(Deserializer::Uuid.deserialize(b"not-a-uuid").is_err());
    }

    #[test]
    fn uuid_bytes_and_class_names() {
        let id = "3F2504E0-4F89-11D3-9A0C-0305E82C3301";
        assert_eq!(text(Deserializer::Uuid, id.as_bytes()), id.to_lowercase());
        assert_eq!(text(Deserializer::Bytes, b"a\x01\\"), "a\\x01\\x5C");
        assert_eq!(
            Deserializer::for_class("org.apache.kafka.common.serialization.LongDeserializer"),
            Ok(Deserializer::Long)
        );
        assert!(Deserializer::for_class("LongDeserializer").is_err(), "Kafka wants the full name");
    }
}
