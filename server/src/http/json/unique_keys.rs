//! JSON read into a [`Value`] that refuses an object naming a key twice.
//!
//! RFC 8259 (section 4) leaves a repeated name to the reader, and readers differ: serde_json
//! and JavaScript keep the last, others the first or refuse. A body that one part of a system
//! reads one way and another part (a proxy, a WAF, an auditor's script) the other way is a way
//! to smuggle a value past a review, so a repeated name is refused, with where it is.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a body is not one JSON value with unique keys.
#[derive(Debug)]
pub enum NotUnique {
    /// Not JSON at all: serde_json's message, with its line and column.
    Malformed(String),
    /// An object names a key twice: the key's path, as the API's problems write paths
    /// (`npm.scopes.@corp`, `go.proxy[1].source`).
    Repeated(String),
}

/// `body` as a [`Value`], refused when any object in it names a key twice.
pub fn parse(body: &[u8]) -> Result<Value, NotUnique> {
    let repeated = RefCell::new(None);
    let mut reader = serde_json::Deserializer::from_slice(body);
    let read = At {
        path: Path::Root,
        repeated: &repeated,
    }
    .deserialize(&mut reader)
    .and_then(|value| reader.end().map(|()| value));
    match (read, repeated.into_inner()) {
        (_, Some(path)) => Err(NotUnique::Repeated(path)),
        (Ok(value), None) => Ok(value),
        (Err(error), None) => Err(NotUnique::Malformed(error.to_string())),
    }
}

/// Where a value is: a chain back to the body, written out only when a key is repeated (so
/// that reading costs no more for a long key or a long list).
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn text(&self) -> String {
        match self {
            Path::Root => String::new(),
            Path::Field(parent, key) => match parent.text() {
                parent if parent.is_empty() => (*key).to_owned(),
                parent => format!("{parent}.{key}"),
            },
            Path::Index(parent, index) => format!("{}[{index}]", parent.text()),
        }
    }
}

/// Reads the value at `path`, noting the first repeated key in `repeated`.
struct At<'a> {
    path: Path<'a>,
    repeated: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for At<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // serde_json reads no NaN or infinity, so every f64 it hands over is a Number.
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        loop {
            let here = Path::Index(&self.path, values.len());
            let item = At {
                path: here,
                repeated: self.repeated,
            };
            match items.next_element_seed(item)? {
                Some(value) => values.push(value),
                None => break,
            }
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            let here = Path::Field(&self.path, &key);
            if object.contains_key(&key) {
                *self.repeated.borrow_mut() = Some(here.text());
                return Err(de::Error::custom("a key is repeated"));
            }
            let value = entries.next_value_seed(At {
                path: here,
                repeated: self.repeated,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repeated(body: &str) -> String {
        match parse(body.as_bytes()) {
            Err(NotUnique::Repeated(path)) => path,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_repeated_key_is_found_wherever_it_is() {
        assert_eq!(repeated(r#"{"a": 1, "a": 2}"#), "a");
        assert_eq!(
            repeated(r#"{"npm": {"scopes": {"@corp": "x", "@corp": "y"}}}"#),
            "npm.scopes.@corp"
        );
        assert_eq!(
            repeated(r#"{"go": {"proxy": [{"source": "a"}, {"source": "b", "source": "c"}]}}"#),
            "go.proxy[1].source"
        );
        // Written differently, the same key: JSON escapes are read before comparing.
        assert_eq!(
            repeated(r#"{"registry": 1, "regis\u0074ry": 2}"#),
            "registry"
        );
        assert_eq!(repeated(r#"[{"x": {}, "x": {}}]"#), "[0].x");
    }

    #[test]
    fn values_read_as_serde_json_reads_them() {
        let body = r#"{"a": [1, -2, 3.5, true, null, "x\n"], "b": {"c": {}}, "B": 1}"#;
        assert_eq!(
            parse(body.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(body).unwrap()
        );
        assert_eq!(
            parse(b"18446744073709551615").unwrap(),
            Value::from(u64::MAX)
        );
    }

    #[test]
    fn a_long_key_over_a_long_list_costs_no_more_than_reading_it() {
        // 600 KB of key over 200,000 items: building each item's path as it is read would
        // copy 120 GB (hours); written out only for a repeat, the walk reads the body once.
        let body = format!(
            "{{\"{}\": [{}0]}}",
            "k".repeat(600_000),
            "0,".repeat(200_000)
        );
        let value = parse(body.as_bytes()).unwrap();
        let items = value.as_object().unwrap().values().next().unwrap();
        assert_eq!(items.as_array().unwrap().len(), 200_001);
        // Where a repeat is, the path is still written out in full.
        let body = format!("{{\"{}\": [{{}}, {{\"a\": 1, \"a\": 2}}]}}", "k".repeat(10));
        assert_eq!(repeated(&body), format!("{}[1].a", "k".repeat(10)));
    }

    #[test]
    fn broken_json_is_malformed_with_its_position() {
        for body in ["{\"a\": 1,}", "{\"a\": 1} trailing", "", "[1, 2"] {
            match parse(body.as_bytes()) {
                Err(NotUnique::Malformed(message)) => {
                    assert!(message.contains("line"), "{body}: {message}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
