//! The forms of sections, against the profile's schema and round trips of every kind.

use super::*;
use crate::console::form::Form;

fn form(fields: &[(&str, &str)]) -> Form {
    Form::from_pairs(
        fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
    )
}

/// The schema's properties of the object `reference` names.
fn properties(schemas: &Value, reference: &Value) -> Vec<String> {
    let reference = reference["$ref"]
        .as_str()
        .or_else(|| {
            reference["oneOf"]
                .as_array()
                .and_then(|options| options.iter().find_map(|o| o["$ref"].as_str()))
        })
        .unwrap_or_else(|| panic!("no reference in {reference}"));
    let name = reference.rsplit('/').next().unwrap();
    let mut keys: Vec<String> = schemas[name]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{name} has no properties"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[test]
fn every_setting_of_the_profile_schema_has_a_field() {
    let description: Value =
        serde_json::from_str(&crate::http::api_description().to_json().unwrap()).unwrap();
    let schemas = &description["components"]["schemas"];
    let profile = &schemas["Profile"]["properties"];
    let mut top: Vec<&str> = profile
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|key| *key != "clients")
        .collect();
    top.sort();
    let mut ours: Vec<&str> = SECTIONS
        .iter()
        .map(|section| section.path)
        .filter(|path| !path.starts_with("clients."))
        .collect();
    ours.sort();
    assert_eq!(ours, top, "one section per top-level key of a profile");
    for section in SECTIONS.iter().filter(|s| !s.whole()) {
        let schema = match section.path.split_once('.') {
            Some((_, client)) => {
                let clients = &schemas["ClientOverrides"]["properties"];
                properties(schemas, &clients[client])
            }
            None => properties(schemas, &profile[section.path]),
        };
        for field in section.fields {
            assert!(
                schema.iter().any(|key| key == field.key),
                "{}.{} is not a setting",
                section.path,
                field.key
            );
        }
        // A client's section leaves out only what the API refuses there: fallbacks and
        // npm's proxies (stated on the ecosystem alone) and uv's timeout (uv reads none).
        let refused: &[&str] = match section.path {
            "clients.npm" | "clients.pnpm" | "clients.yarn" => {
                &["registry-fallbacks", "proxy", "https-proxy"]
            }
            "clients.pip" => &["index-url-fallbacks"],
            "clients.uv" => &["index-url-fallbacks", "timeout"],
            _ => &[],
        };
        let missing: Vec<&String> = schema
            .iter()
            .filter(|key| !section.fields.iter().any(|field| field.key == key.as_str()))
            .filter(|key| !refused.contains(&key.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{} has no field for {missing:?}",
            section.path
        );
    }
}

#[test]
fn goproxy_is_edited_in_its_own_syntax() {
    let go = section("go").unwrap();
    let (value, problems) = read(
        go,
        &form(&[("proxy", " https://a.example , https://b.example|direct ")]),
    );
    assert!(problems.is_empty());
    assert_eq!(
        value["proxy"],
        json!([
            { "source": "https://a.example", "fallback": "not-found" },
            { "source": "https://b.example", "fallback": "any-error" },
            { "source": "direct", "fallback": "not-found" },
        ])
    );
    let shown = views(go, Some(&value), None, &[]);
    assert_eq!(shown[0].value, "https://a.example,https://b.example|direct");
    let (last, _) = read(go, &form(&[("proxy", "https://a.example|")]));
    assert_eq!(last["proxy"][0]["fallback"], "any-error");
    assert_eq!(
        views(go, Some(&last), None, &[])[0].value,
        "https://a.example|"
    );
}

#[test]
fn secrets_are_kept_replaced_or_removed_and_never_shown() {
    let npm = section("npm").unwrap();
    let stored = json!({ "auth-tokens": { "https://npm.corp.example/": { "set": true } } });
    let shown = views(npm, Some(&stored), None, &[]);
    let tokens = shown
        .iter()
        .find(|view| view.name == "auth-tokens")
        .unwrap();
    assert_eq!(tokens.rows.len(), 2, "one row each and one to add");
    assert!(tokens.rows[0][1].stored && tokens.rows[0][1].value.is_empty());
    let kept = read(
        npm,
        &form(&[
            ("auth-tokens.name.0", "https://npm.corp.example/"),
            ("auth-tokens.secret.0", ""),
            ("auth-tokens.name.1", "https://other.example/"),
            ("auth-tokens.secret.1", "t0ken"),
        ]),
    )
    .0;
    assert_eq!(
        kept["auth-tokens"],
        json!({
            "https://npm.corp.example/": { "set": true },
            "https://other.example/": { "value": "t0ken" },
        })
    );
    let removed = read(
        npm,
        &form(&[
            ("auth-tokens.name.0", "https://npm.corp.example/"),
            ("auth-tokens.remove.0", "1"),
        ]),
    )
    .0;
    assert_eq!(removed, json!({}));
    let cargo = section("cargo").unwrap();
    let stored = read(
        cargo,
        &form(&[("registry-token", ""), ("registry-token.stored", "1")]),
    )
    .0;
    assert_eq!(stored["registry-token"], json!({ "set": true }));
    let dropped = read(
        cargo,
        &form(&[
            ("registry-token", ""),
            ("registry-token.stored", "1"),
            ("registry-token.remove", "1"),
        ]),
    )
    .0;
    assert_eq!(dropped, json!({}));
}

#[test]
fn pairs_without_an_equals_sign_are_a_problem_at_their_field() {
    let npm = section("npm").unwrap();
    let (value, problems) = read(
        npm,
        &form(&[("scopes", "@corp = https://npm.corp.example/\n\n@oops")]),
    );
    assert_eq!(
        value["scopes"],
        json!({ "@corp": "https://npm.corp.example/" })
    );
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "npm.scopes");
}

#[test]
fn a_section_is_replaced_and_an_empty_one_removed() {
    let pnpm = section("clients.pnpm").unwrap();
    let mut profile = json!({ "npm": { "registry": "https://a/" } });
    pnpm.replace(&mut profile, json!({ "registry": "https://b/" }));
    assert_eq!(profile["clients"]["pnpm"]["registry"], "https://b/");
    pnpm.replace(&mut profile, json!({}));
    assert_eq!(profile, json!({ "npm": { "registry": "https://a/" } }));
    let env = section("env").unwrap();
    let (value, _) = read(
        env,
        &form(&[
            ("value.name.0", "GEM_HOST"),
            ("value.value.0", "https://gems.corp.example"),
            ("value.name.1", "TOKEN"),
            ("value.value.1", "s3cret"),
            ("value.secret.1", "1"),
        ]),
    );
    assert_eq!(
        value,
        json!({ "GEM_HOST": "https://gems.corp.example", "TOKEN": { "value": "s3cret" } })
    );
}

#[test]
fn problems_are_placed_at_the_field_their_path_names() {
    assert!(concerns("npm.scopes.@corp", "npm.scopes"));
    assert!(concerns("go.proxy[0].source", "go.proxy"));
    assert!(concerns("npm.registry", "npm.registry"));
    assert!(!concerns("npm.registry-fallbacks", "npm.registry"));
}
