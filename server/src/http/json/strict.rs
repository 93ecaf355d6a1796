//! Reading a JSON value as a type the way its JSON looks: serde's derived structs also take a
//! JSON array, field by field in declaration order (`["staging"]` read as `{"name":
//! "staging"}`), and serde_json's `Value` offers them one. A client that sends an array where
//! the API describes an object has the wrong idea of the API, and guessing what it meant by
//! position is how two readers come to disagree; so [`Strict`] refuses it (a 422 at the
//! field's path), at every depth.
//!
//! Everything else is read as `serde_json::Value` reads it: scalars, maps, sequences, options
//! and enums, but for two things no body here has: a map's keys are strings (serde_json would
//! parse a number from one), and an enum's payload is read by serde_json itself, so a struct
//! nested there is not held to objects.

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Error, Map, Value};

/// `value`, to be read by serde with structs taken from JSON objects only.
pub struct Strict<'a>(pub &'a Value);

impl<'de> de::Deserializer<'de> for Strict<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Items(items.iter())),
            Value::Object(fields) => visitor.visit_map(Fields::new(fields)),
            scalar => de::Deserializer::deserialize_any(scalar, visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(_) => self.deserialize_any(visitor),
            Value::Array(_) => Err(de::Error::invalid_type(de::Unexpected::Seq, &visitor)),
            other => de::Deserializer::deserialize_struct(other, name, fields, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_enum(self.0, name, variants, visitor)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

/// A JSON array's items, each read strictly.
struct Items<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|item| seed.deserialize(Strict(item)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// A JSON object's fields: keys as strings, values read strictly.
struct Fields<'a> {
    fields: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'a> Fields<'a> {
    fn new(fields: &'a Map<String, Value>) -> Self {
        Self {
            fields: fields.iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for Fields<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.fields.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        // A string, as every key of a body is (unlike serde_json, no number is parsed from it).
        let key: StrDeserializer<'_, Error> = key.as_str().into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a value asked for before its key"))?;
        seed.deserialize(Strict(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        name: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        inner: Option<Inner>,
        list: Vec<Inner>,
        map: std::collections::BTreeMap<String, u32>,
    }

    fn read<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
        serde_path_to_error::deserialize(Strict(&value))
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    #[test]
    fn objects_read_as_serde_json_reads_them() {
        let value = json!({"inner": {"name": "a"}, "list": [{"name": "b"}], "map": {"x": 1}});
        let strict: Outer = read(value.clone()).unwrap();
        assert_eq!(strict, serde_json::from_value::<Outer>(value).unwrap());
        let none: Outer = read(json!({"inner": null, "list": [], "map": {}})).unwrap();
        assert_eq!(none.inner, None);
    }

    #[test]
    fn an_array_where_an_object_belongs_is_refused_at_its_path() {
        assert!(
            serde_json::from_value::<Inner>(json!(["a"])).is_ok(),
            "serde takes it"
        );
        let refused = read::<Inner>(json!(["a"])).unwrap_err();
        assert!(refused.contains("invalid type: sequence"), "{refused}");
        let nested = read::<Outer>(json!({"inner": ["a"], "list": [], "map": {}})).unwrap_err();
        assert!(
            nested.starts_with("inner: invalid type: sequence"),
            "{nested}"
        );
        let in_list = read::<Outer>(json!({"list": [["b"]], "map": {}})).unwrap_err();
        assert!(
            in_list.starts_with("list[0]: invalid type: sequence"),
            "{in_list}"
        );
    }
}
