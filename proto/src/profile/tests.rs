use proptest::prelude::*;
use serde_json::json;

use super::*;

fn parse(value: serde_json::Value) -> Profile {
    serde_json::from_value(value).expect("the shape is right")
}

fn full_profile() -> serde_json::Value {
    json!({
        "go": {
            "proxy": [
                {"source": "https://goproxy.corp.example/", "fallback": "any-error"},
                {"source": "https://mirror.corp.example/go"},
                {"source": "direct"}
            ],
            "private": ["*.corp.example", "github.com/corp/*"],
            "nosumdb": ["*.corp.example"],
            "sumdb": "sum.golang.org",
            "insecure": ["legacy.corp.example"]
        },
        "npm": {
            "registry": "https://npm.corp.example/",
            "scopes": {"@corp": "https://npm.corp.example/private/"},
            "auth-tokens": {"https://npm.corp.example/private/": {"value": "s3cr3t-token"}},
            "strict-ssl": true,
            "https-proxy": "http://proxy.corp.example:3128"
        },
        "pypi": {
            "index-url": "https://pypi.corp.example/simple",
            "extra-index-url": ["https://pypi2.corp.example/simple"],
            "trusted-host": ["pypi.corp.example", "pypi2.corp.example:8443"],
            "timeout": 30
        },
        "git": {
            "rewrites": [{
                "base": "https://git.corp.example/github/",
                "instead-of": ["https://github.com/", "git@github.com:"]
            }],
            "http-proxy": "http://proxy.corp.example:3128"
        },
        "proxy": {
            "http": "http://proxy.corp.example:3128",
            "https": "http://proxy.corp.example:3128",
            "no-proxy": ["localhost", ".corp.example", "10.0.0.0/8"],
            "credentials": {
                "http://proxy.corp.example:3128": {"username": "svc-dev", "password": {"value": "pr0xy pass"}}
            }
        },
        "env": {
            "GEM_HOST": "https://gems.corp.example",
            "CARGO_REGISTRIES_CORP_INDEX": "sparse+https://cargo.corp.example/",
            "CARGO_REGISTRIES_CORP_TOKEN": {"value": "cargo-t0ken"}
        }
    })
}

#[test]
fn a_complete_profile_is_valid_and_reads_back_with_secrets_hidden() {
    let profile = parse(full_profile());
    assert_eq!(profile.validate(), []);
    let shown = serde_json::to_value(&profile).unwrap();
    assert_eq!(
        shown["npm"]["auth-tokens"]["https://npm.corp.example/private/"],
        json!({"set": true})
    );
    assert_eq!(
        shown["proxy"]["credentials"]["http://proxy.corp.example:3128"],
        json!({"username": "svc-dev", "password": {"set": true}})
    );
    assert_eq!(
        shown["env"]["CARGO_REGISTRIES_CORP_TOKEN"],
        json!({"set": true})
    );
    for secret in ["s3cr3t", "pr0xy", "cargo-t0ken"] {
        assert!(!shown.to_string().contains(secret), "{shown}");
        assert!(!format!("{profile:?}").contains(secret));
    }
    // What is read back can be written back: the secret is kept.
    let again: Profile = serde_json::from_value(shown).unwrap();
    assert_eq!(
        again.npm.unwrap().auth_tokens.unwrap()["https://npm.corp.example/private/"],
        Secret::Kept
    );
}

#[test]
fn every_secret_is_found_by_its_path() {
    let mut profile = parse(full_profile());
    let paths: Vec<String> = profile
        .secrets()
        .into_iter()
        .map(|(path, _)| path.to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "npm.auth-tokens.https://npm.corp.example/private/",
            "proxy.credentials.http://proxy.corp.example:3128.password",
            "env.CARGO_REGISTRIES_CORP_TOKEN",
        ]
    );
    let (path, secret) = profile.secrets_mut().pop().unwrap();
    assert_eq!(path.json_pointer(), "/env/CARGO_REGISTRIES_CORP_TOKEN");
    *secret = Secret::Kept;
    assert_eq!(
        profile.env["CARGO_REGISTRIES_CORP_TOKEN"],
        EnvValue::Secret(Secret::Kept)
    );
    let (path, _) = &profile.secrets()[1];
    assert_eq!(
        path.json_pointer(),
        "/proxy/credentials/http:~1~1proxy.corp.example:3128/password"
    );
}

#[test]
fn goproxy_keeps_order_and_fallthrough() {
    let profile = parse(full_profile());
    assert_eq!(
        profile.settings()["go.proxy"],
        Setting::Text("https://goproxy.corp.example/|https://mirror.corp.example/go,direct".into())
    );
}

#[test]
fn twenty_mistakes_get_twenty_messages() {
    let profile = parse(json!({
        "go": {
            "proxy": [{"source": "off"}, {"source": "ftp://old.example/"}],
            "private": ["bad pattern", "ok.example/*"],
            "sumdb": "two words here"
        },
        "npm": {
            "registry": "https://npm.corp.example/\nalways-auth=true",
            "scopes": {"corp": "https://npm.corp.example/", "@ok": "not a url"},
            "auth-tokens": {"https://npm.corp.example/": {"value": "has space"}},
            "proxy": "http://user:pass@proxy.example/"
        },
        "pypi": {
            "index-url": "https://pypi.corp.example/simple#frag",
            "extra-index-url": ["https://"],
            "trusted-host": ["bad host"],
            "timeout": 0
        },
        "git": {"rewrites": [{"base": "git@github.com:", "instead-of": []}]},
        "proxy": {
            "http": "socks5://proxy:1080",
            "no-proxy": ["a,b"],
            "credentials": {
                "http://proxy.example/path": {"username": "", "password": {"value": "p\u{0}"}}
            }
        },
        "env": {
            "PATH": "/bin",
            "1BAD": "x",
            "GOPROXY": "https://x/",
            "OK": "line\nbreak",
            "TOKEN": {"value": "two\nlines"}
        }
    }));
    let problems = profile.validate();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for expected in [
        "go.proxy[0].source",
        "go.proxy[1].source",
        "go.private[0]",
        "go.sumdb",
        "npm.registry",
        "npm.scopes.corp",
        "npm.scopes.@ok",
        "npm.auth-tokens.https://npm.corp.example/",
        "npm.proxy",
        "pypi.index-url",
        "pypi.extra-index-url[0]",
        "pypi.trusted-host[0]",
        "pypi.timeout",
        "git.rewrites[0].base",
        "git.rewrites[0].instead-of",
        "proxy.http",
        "proxy.no-proxy[0]",
        "proxy.credentials.http://proxy.example/path",
        "proxy.credentials.http://proxy.example/path.username",
        "proxy.credentials.http://proxy.example/path.password",
        "env.PATH",
        "env.1BAD",
        "env.GOPROXY",
        "env.OK",
        "env.TOKEN",
    ] {
        assert!(
            paths.contains(&expected),
            "no problem for {expected}: {problems:#?}"
        );
    }
    assert!(problems.len() >= 20, "{}", problems.len());
}

#[test]
fn unknown_keys_and_malformed_secrets_are_refused_by_shape() {
    assert!(serde_json::from_value::<Profile>(json!({"golang": {}})).is_err());
    assert!(serde_json::from_value::<Profile>(json!({"pip": {"index_url": "x"}})).is_err());
    let both = json!({"npm": {"auth-tokens": {"https://r/": {"value": "x", "set": true}}}});
    assert!(serde_json::from_value::<Profile>(both).is_err());
}

#[test]
fn a_secret_sent_in_the_wrong_form_is_never_quoted_back() {
    for wrong in [
        json!("hunter2-secret"),
        json!(12345678),
        json!({"value": 12345678}),
        json!({"value": "hunter2-secret", "set": true}),
        json!({"valeu": "hunter2-secret"}),
        json!(["hunter2-secret"]),
    ] {
        let profile = json!({"npm": {"auth-tokens": {"https://r.example/": wrong}}});
        let error = serde_json::from_value::<Profile>(profile)
            .unwrap_err()
            .to_string();
        assert!(
            !error.contains("hunter2") && !error.contains("12345678"),
            "{error}"
        );
    }
    let error = serde_json::from_value::<Profile>(json!({"env": {"T": {"value": 12345678}}}))
        .unwrap_err()
        .to_string();
    assert!(!error.contains("12345678"), "{error}");
}

#[test]
fn diff_names_each_setting_and_hides_secrets() {
    let old = parse(full_profile());
    let mut changed = full_profile();
    changed["go"]["proxy"] = json!([{"source": "direct"}]);
    changed["npm"]["auth-tokens"]["https://npm.corp.example/private/"] =
        json!({"value": "rotated"});
    changed["env"]["NEW_ONE"] = json!("1");
    changed["proxy"]["credentials"]["http://proxy.corp.example:3128"]["password"] =
        json!({"value": "rotated too"});
    changed["pypi"].as_object_mut().unwrap().remove("timeout");
    let new = parse(changed);
    let diff = old.diff(&new);
    let lines: Vec<String> = diff.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "env.NEW_ONE: (unset) -> 1",
            "go.proxy: https://goproxy.corp.example/|https://mirror.corp.example/go,direct -> direct",
            "npm.auth-tokens.https://npm.corp.example/private/: (secret) -> (secret)",
            "proxy.credentials.http://proxy.corp.example:3128.password: (secret) -> (secret)",
            "pypi.timeout: 30 -> (unset)",
        ]
    );
    assert!(!format!("{diff:?}").contains("rotated"));
    assert!(!format!("{diff:?}").contains("pr0xy"));
    assert_eq!(old.diff(&old), []);
}

#[test]
fn overlay_replaces_scalars_and_lists_and_merges_maps_by_key() {
    let baseline = parse(full_profile());
    let overlay = parse(json!({
        "go": {"proxy": [{"source": "https://ds-proxy.corp.example/"}]},
        "npm": {"scopes": {"@ds": "https://npm.corp.example/ds/"}},
        "pypi": {"extra-index-url": []},
        "env": {"GEM_HOST": "https://gems-ds.corp.example"}
    }));
    let (effective, origins) = baseline.effective(Some(&overlay));
    let settings = effective.settings();
    assert_eq!(
        settings["go.proxy"],
        Setting::Text("https://ds-proxy.corp.example/".into())
    );
    assert_eq!(settings["go.sumdb"], Setting::Text("sum.golang.org".into()));
    assert!(settings.contains_key("npm.scopes.@corp") && settings.contains_key("npm.scopes.@ds"));
    assert_eq!(settings["pypi.extra-index-url"], Setting::List(vec![]));
    assert_eq!(origins["go.proxy"], Origin::Overlay);
    assert_eq!(origins["go.sumdb"], Origin::Baseline);
    assert_eq!(origins["npm.scopes.@corp"], Origin::Baseline);
    assert_eq!(origins["npm.scopes.@ds"], Origin::Overlay);
    assert_eq!(origins["env.GEM_HOST"], Origin::Overlay);
}

fn arb_text() -> impl Strategy<Value = String> {
    "[a-z]{1,6}"
}

fn arb_env_value() -> impl Strategy<Value = EnvValue> {
    prop_oneof![
        arb_text().prop_map(EnvValue::Text),
        arb_text().prop_map(|value| EnvValue::Secret(Secret::Value(value))),
    ]
}

prop_compose! {
    fn arb_profile()(
        go_proxy in proptest::option::of(proptest::collection::vec(arb_text(), 0..3)),
        sumdb in proptest::option::of(arb_text()),
        registry in proptest::option::of(arb_text()),
        fallbacks in proptest::option::of(proptest::collection::vec(arb_text(), 0..3)),
        scopes in proptest::option::of(proptest::collection::btree_map("@[a-c]", arb_text(), 0..3)),
        strict in proptest::option::of(any::<bool>()),
        extra in proptest::option::of(proptest::collection::vec(arb_text(), 0..3)),
        timeout in proptest::option::of(1_u32..600),
        env in proptest::collection::btree_map("[A-C]", arb_env_value(), 0..3),
        credentials in proptest::option::of(
            proptest::collection::btree_map("http://p[1-3]", (arb_text(), arb_text()), 0..3)
        ),
        with_proxy in any::<bool>(),
        with_go in any::<bool>(),
        with_npm in any::<bool>(),
        with_pip in any::<bool>(),
    ) -> Profile {
        Profile {
            go: with_go.then(|| GoSettings {
                proxy: go_proxy.map(|sources| sources
                    .into_iter()
                    .map(|source| GoProxyEntry { source, fallback: GoFallback::NotFound })
                    .collect()),
                sumdb,
                ..GoSettings::default()
            }),
            npm: with_npm.then(|| NpmSettings {
                // Fallbacks stand only beside their mirror (validated).
                registry_fallbacks: registry.is_some().then_some(fallbacks).flatten(),
                registry,
                scopes,
                strict_ssl: strict,
                ..NpmSettings::default()
            }),
            pypi: with_pip.then(|| PypiSettings {
                extra_index_url: extra,
                timeout,
                ..PypiSettings::default()
            }),
            proxy: with_proxy.then(|| ProxySettings {
                credentials: credentials.map(|logins| logins
                    .into_iter()
                    .map(|(origin, (username, password))| {
                        (origin, ProxyLogin { username, password: Secret::Value(password) })
                    })
                    .collect()),
                ..ProxySettings::default()
            }),
            env,
            ..Profile::default()
        }
    }
}

proptest! {
    /// The documented rule, setting by setting: the overlay's settings win, the baseline's
    /// others stay, nothing else appears.
    #[test]
    fn effective_settings_are_the_baseline_overridden_by_the_overlay(
        baseline in arb_profile(),
        overlay in arb_profile(),
    ) {
        let mut expected = baseline.settings();
        // Fallbacks travel with their mirror: an overlay that sets it drops the baseline's.
        if overlay.settings().contains_key("npm.registry") {
            expected.remove("npm.registry-fallbacks");
        }
        expected.extend(overlay.settings());
        let (effective, origins) = baseline.effective(Some(&overlay));
        prop_assert_eq!(effective.settings(), expected);
        for (path, origin) in origins {
            let from_overlay = overlay.settings().contains_key(&path);
            prop_assert_eq!(origin == Origin::Overlay, from_overlay);
        }
    }

    #[test]
    fn an_empty_overlay_changes_nothing_and_applying_twice_is_applying_once(
        baseline in arb_profile(),
        overlay in arb_profile(),
    ) {
        prop_assert_eq!(baseline.overlaid(&Profile::default()).settings(), baseline.settings());
        let once = baseline.overlaid(&overlay);
        prop_assert_eq!(once.overlaid(&overlay), once);
    }

    #[test]
    fn a_profile_differs_from_itself_in_nothing(profile in arb_profile()) {
        prop_assert!(profile.diff(&profile).is_empty());
    }
}

#[test]
fn nothing_is_accepted_that_a_machine_could_not_apply_or_that_hides_the_agents_files() {
    let profile = parse(serde_json::json!({
        "env": {
            "PIP_PYPI_URL": "https://other.example/simple",
            "pip_default_timeout": "5",
            "GOENV": "off",
            "NPM_CONFIG_USERCONFIG": "/dev/null",
            "GIT_CONFIG_KEY_0": "http.proxy",
            "ZDOTDIR": "/tmp",
            "EUID": "1234",
            "LD_AUDIT": "/tmp/audit.so",
            "NPM_CONFIG_PREFIX": "/tmp",
            "PRICE": "a$b",
            "PADDED": " x ",
            "TOKEN": {"value": "s3cr$t"}
        },
        "npm": {"auth-tokens": {"http://LOCALHOST:80/": {"value": "a"},
                                "http://localhost/": {"value": "b"}}}
    }));
    let paths: Vec<String> = profile.validate().into_iter().map(|p| p.path).collect();
    for path in [
        "env.PIP_PYPI_URL",
        "env.pip_default_timeout",
        "env.GOENV",
        "env.NPM_CONFIG_USERCONFIG",
        "env.GIT_CONFIG_KEY_0",
        "env.ZDOTDIR",
        "env.EUID",
        "env.LD_AUDIT",
        "env.NPM_CONFIG_PREFIX",
        "env.PRICE",
        "env.PADDED",
        "env.TOKEN",
        "npm.auth-tokens.http://localhost/",
    ] {
        assert!(paths.iter().any(|p| p == path), "{path} not in {paths:?}");
    }
    // Windows paths and quotes are fine; an international no-proxy host counts in IDNA form.
    let fine = parse(serde_json::json!({
        "env": {"TOOLS_HOME": "%USERPROFILE%\\.tools", "GREETING": "say \"hi\", it's `me`"},
        "proxy": {"no-proxy": ["Bücher.example", ".Corp.Example"]}
    }));
    assert_eq!(fine.validate(), Vec::new());
}

#[test]
fn npm_tokens_for_one_registry_over_http_and_https_share_a_key_and_are_refused() {
    let tokens = json!({
        "http://r.example/x/": {"value": "a"},
        "https://R.example:443/x/": {"value": "b"},
        "https://r.example:80/x/": {"value": "c"}
    });
    for section in ["npm", "clients.pnpm"] {
        let profile = match section {
            "npm" => json!({"npm": {"auth-tokens": tokens}}),
            _ => json!({"clients": {"pnpm": {"auth-tokens": tokens}}}),
        };
        let problems = parse(profile).validate();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        // Both keep their token under //r.example/x/; the third is //r.example:80/x/.
        assert_eq!(
            paths,
            [format!("{section}.auth-tokens.https://R.example:443/x/")],
            "{problems:?}"
        );
    }
    // Across layers (npm's section under pnpm's own, a baseline under an overlay) the upper
    // one's token replaces the lower one's for the same registry over the other scheme.
    let layered = parse(json!({
        "npm": {"auth-tokens": {"http://r.example/x/": {"value": "a"},
                                "https://s.example/": {"value": "s"}}},
        "clients": {"pnpm": {"auth-tokens": {"https://r.example/x/": {"value": "b"}}}}
    }));
    assert_eq!(layered.validate(), Vec::new());
    let tokens = layered
        .npm_for(NpmClient::Pnpm)
        .unwrap()
        .auth_tokens
        .unwrap();
    assert_eq!(
        tokens.keys().collect::<Vec<_>>(),
        ["https://r.example/x/", "https://s.example/"]
    );
    // Yarn keeps each under its whole URL.
    let yarn = json!({"clients": {"yarn": {"auth-tokens": {
        "http://r.example/x/": {"value": "a"},
        "https://r.example/x/": {"value": "b"}
    }}}});
    assert_eq!(parse(yarn).validate(), Vec::new());
}

#[test]
fn fallbacks_stand_beside_their_mirror_each_once_and_travel_with_it_through_an_overlay() {
    let fine = parse(json!({
        "npm": {"registry": "https://npm.corp.example/",
                "registry-fallbacks": ["https://npm-b.corp.example/", "https://10.0.0.5:4873"]},
        "pypi": {"index-url": "https://pypi.corp.example/simple/",
                "index-url-fallbacks": ["https://pypi-b.corp.example/simple/"]}
    }));
    assert_eq!(fine.validate(), Vec::new());
    let endpoints: Vec<&str> = fine.endpoints().iter().map(|e| e.url).collect();
    assert_eq!(
        endpoints,
        [
            "https://npm.corp.example/",
            "https://npm-b.corp.example/",
            "https://10.0.0.5:4873",
            "https://pypi.corp.example/simple/",
            "https://pypi-b.corp.example/simple/"
        ],
        "fallbacks are probed, right after their mirror"
    );

    let wrong = parse(json!({
        "npm": {"registry": "https://npm.corp.example/",
                "registry-fallbacks": ["https://NPM.corp.example:443", "ftp://x/", "https://b/",
                                       "https://b", "http://c/", "https://d/"]},
        "pypi": {"index-url-fallbacks": []}
    }));
    let problems: Vec<(String, String)> = wrong
        .validate()
        .into_iter()
        .map(|p| (p.path, p.message))
        .collect();
    let said = |path: &str, words: &str| {
        assert!(
            problems.iter().any(|(p, m)| p == path && m.contains(words)),
            "{path}: {words}: {problems:#?}"
        );
    };
    said("npm.registry-fallbacks", "at most 4");
    said(
        "npm.registry-fallbacks[0]",
        "npm.registry or an earlier fallback",
    );
    said("npm.registry-fallbacks[1]", "http or https");
    said("npm.registry-fallbacks[3]", "an earlier fallback");
    said(
        "pypi.index-url-fallbacks",
        "needs pypi.index-url in the same profile",
    );

    // An overlay that moves the mirror brings its own fallbacks, or none.
    let overlay = parse(json!({"npm": {"registry": "https://npm-office.corp.example/"}}));
    let merged = fine.overlaid(&overlay);
    assert_eq!(merged.npm.as_ref().unwrap().registry_fallbacks, None);
    assert!(merged.pypi.as_ref().unwrap().index_url_fallbacks.is_some());
    let (_, origins) = fine.effective(Some(&overlay));
    assert!(!origins.contains_key("npm.registry-fallbacks"));
    assert_eq!(origins["pypi.index-url-fallbacks"], Origin::Baseline);
    let unrelated = parse(json!({"npm": {"strict-ssl": true}}));
    assert_eq!(
        fine.overlaid(&unrelated).npm.unwrap().registry_fallbacks,
        fine.npm.clone().unwrap().registry_fallbacks
    );
    // They show in a diff like any setting.
    let settings = fine.settings();
    assert_eq!(
        settings["npm.registry-fallbacks"],
        Setting::List(vec![
            "https://npm-b.corp.example/".into(),
            "https://10.0.0.5:4873".into()
        ])
    );
}

#[test]
fn an_ecosystem_is_stated_once_and_a_client_may_take_its_own_values() {
    let profile = parse(json!({
        "npm": {"registry": "https://npm.corp.example/",
                "scopes": {"@corp": "https://npm.corp.example/corp/"},
                "auth-tokens": {"https://npm.corp.example/": {"value": "for-all"}}},
        "pypi": {"index-url": "https://pypi.corp.example/simple/", "timeout": 30},
        "clients": {
            "pnpm": {"registry": "https://pnpm.corp.example/",
                     "scopes": {"@tools": "https://tools.corp.example/"},
                     "auth-tokens": {"https://pnpm.corp.example/": {"value": "for-pnpm"}}},
            "uv": {"extra-index-url": ["https://extra.corp.example/simple/"]}
        }
    }));
    assert_eq!(profile.validate(), vec![]);

    let npm = profile.npm_for(NpmClient::Npm).unwrap();
    assert_eq!(npm.registry.as_deref(), Some("https://npm.corp.example/"));
    assert_eq!(
        Some(&npm),
        profile.npm.as_ref(),
        "a client without values of its own reads the ecosystem's"
    );
    let pnpm = profile.npm_for(NpmClient::Pnpm).unwrap();
    assert_eq!(pnpm.registry.as_deref(), Some("https://pnpm.corp.example/"));
    assert_eq!(
        pnpm.scopes.unwrap().keys().collect::<Vec<_>>(),
        ["@corp", "@tools"],
        "maps merge by key"
    );
    assert_eq!(pnpm.auth_tokens.unwrap().len(), 2);
    let uv = profile.pypi_for(PypiClient::Uv).unwrap();
    assert_eq!(uv.index_url, profile.pypi.as_ref().unwrap().index_url);
    assert_eq!(uv.extra_index_url.unwrap().len(), 1);
    assert_eq!(
        profile.pypi_for(PypiClient::Pip).unwrap().extra_index_url,
        None
    );
    assert_eq!(
        parse(json!({"clients": {"uv": {"index-url": "https://uv.corp.example/"}}}))
            .pypi_for(PypiClient::Pip),
        None,
        "one client's own values are not another's"
    );

    // Client values are settings, secrets, endpoints and diffs like any other.
    let settings = profile.settings();
    assert_eq!(
        settings["clients.pnpm.registry"],
        Setting::Text("https://pnpm.corp.example/".into())
    );
    let secrets: Vec<String> = profile
        .secrets()
        .iter()
        .map(|(path, _)| path.to_string())
        .collect();
    assert_eq!(
        secrets,
        [
            "npm.auth-tokens.https://npm.corp.example/",
            "clients.pnpm.auth-tokens.https://pnpm.corp.example/"
        ]
    );
    let sealed = profile.to_json_with_secrets(|_| json!("sealed"));
    assert_eq!(
        sealed["clients"]["pnpm"]["auth-tokens"]["https://pnpm.corp.example/"],
        "sealed"
    );
    let urls: Vec<&str> = profile.endpoints().iter().map(|e| e.url).collect();
    assert!(urls.contains(&"https://pnpm.corp.example/"));
    assert!(urls.contains(&"https://extra.corp.example/simple/"));
    let mut changed = profile.clone();
    changed.clients.pnpm.as_mut().unwrap().auth_tokens = None;
    assert_eq!(
        profile
            .diff(&changed)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["clients.pnpm.auth-tokens.https://pnpm.corp.example/: (secret) -> (unset)"]
    );

    // A role's overlay merges client values as it merges sections.
    let overlay = parse(json!({"clients": {"pnpm": {"strict-ssl": false}}}));
    let merged = profile.overlaid(&overlay).npm_for(NpmClient::Pnpm).unwrap();
    assert_eq!(merged.strict_ssl, Some(false));
    assert_eq!(
        merged.registry.as_deref(),
        Some("https://pnpm.corp.example/")
    );
}

#[test]
fn client_values_are_checked_where_they_stand_and_never_carry_fallbacks() {
    let wrong = parse(json!({
        "npm": {"registry": "https://npm.corp.example/"},
        "pypi": {"index-url": "https://pypi.corp.example/simple/"},
        "clients": {
            "pnpm": {"registry": "ftp://x/", "registry-fallbacks": ["https://b.corp.example/"],
                     "https-proxy": "http://proxy.corp.example:3128"},
            "pip": {"index-url": "https://p.corp.example/", "index-url-fallbacks": []},
            "uv": {"timeout": 20, "trusted-host": ["not a host"]}
        }
    }));
    let paths: Vec<String> = wrong.validate().into_iter().map(|p| p.path).collect();
    for path in [
        "clients.pnpm.registry",
        "clients.pnpm.registry-fallbacks",
        "clients.pnpm.https-proxy",
        "clients.pip.index-url-fallbacks",
        "clients.uv.timeout",
        "clients.uv.trusted-host[0]",
    ] {
        assert!(paths.iter().any(|p| p == path), "{path}: {paths:?}");
    }
    assert!(serde_json::from_value::<Profile>(json!({"clients": {"bower": {}}})).is_err());
    let yarn = parse(json!({"clients": {"yarn": {"registry": "https://y.corp.example/"}}}));
    assert_eq!(yarn.validate(), vec![]);
    assert!(
        serde_json::from_value::<Profile>(json!({"clients": {"uv": {"scopes": {}}}})).is_err(),
        "a client's values have its ecosystem's shape"
    );
}

#[test]
fn settings_renamed_since_are_found_under_their_former_names() {
    assert_eq!(former_paths("pypi.index-url"), ["pip.index-url"]);
    assert_eq!(former_paths("pypi"), ["pip"]);
    assert!(former_paths("pypix.a").is_empty());
    assert!(former_paths("npm.registry").is_empty());
}

#[test]
fn profiles_written_before_ecosystems_are_read_with_pip_as_pypi() {
    let old = parse(json!({"pip": {"index-url": "https://pypi.corp.example/simple/"}}));
    assert_eq!(
        old.pypi.as_ref().unwrap().index_url.as_deref(),
        Some("https://pypi.corp.example/simple/")
    );
    assert_eq!(
        serde_json::to_value(&old).unwrap(),
        json!({"pypi": {"index-url": "https://pypi.corp.example/simple/"}}),
        "written back under the new name"
    );
    let both = json!({"pip": {"timeout": 1}, "pypi": {"timeout": 2}});
    assert!(
        serde_json::from_value::<Profile>(both).is_err(),
        "the two names of one section are never merged"
    );
}

#[test]
fn cargo_registries_are_checked_and_their_tokens_are_secrets() {
    let profile = parse(json!({"cargo": {
        "registry": "sparse+HTTPS://Crates.Corp.Example/index/",
        "registry-token": {"value": "mirror-t0ken"},
        "registries": {"corp": "https://git.corp.example/index.git"},
        "tokens": {"corp": {"value": "corp-t0ken"}},
        "http-proxy": "http://proxy.corp.example:3128"
    }}));
    assert_eq!(profile.validate(), vec![]);
    let normalized = profile.clone().normalized();
    assert_eq!(
        normalized.cargo.as_ref().unwrap().registry.as_deref(),
        Some("sparse+https://crates.corp.example/index/")
    );
    let secrets: Vec<String> = profile
        .secrets()
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    assert_eq!(secrets, ["cargo.registry-token", "cargo.tokens.corp"]);
    let shown = serde_json::to_value(&profile).unwrap();
    assert!(!shown.to_string().contains("t0ken"), "{shown}");

    let wrong = parse(json!({"cargo": {
        "registry": "sparse+https://crates.corp.example/index",
        "registries": {"crates-io": "https://x.example/", "a.b": "sparse+ftp://x/"},
        "tokens": {"has space": {"value": "t"}}
    }}));
    let paths: Vec<String> = wrong.validate().into_iter().map(|p| p.path).collect();
    for path in [
        "cargo.registry",
        "cargo.registries.crates-io",
        "cargo.registries.a.b",
        "cargo.tokens.has space",
    ] {
        assert!(paths.iter().any(|p| p == path), "{path}: {paths:?}");
    }
    let alone = parse(json!({"cargo": {"registry-token": {"value": "t"}}}));
    assert!(alone
        .validate()
        .iter()
        .any(|p| p.path == "cargo.registry-token" && p.message.contains("needs cargo.registry")));
}

#[test]
fn an_overlay_that_moves_a_cargo_registry_brings_its_own_token_or_none() {
    let baseline = parse(json!({"cargo": {
        "registries": {"corp": "sparse+https://crates.corp.example/corp/",
                       "tools": "sparse+https://crates.corp.example/tools/"},
        "tokens": {"corp": {"value": "corp-t0ken"}, "tools": {"value": "tools-t0ken"}}
    }}));
    let overlay = parse(json!({"cargo": {
        "registries": {"corp": "sparse+https://crates-office.corp.example/corp/"}
    }}));
    let merged = baseline.overlaid(&overlay).cargo.unwrap();
    let tokens = merged.tokens.unwrap();
    assert!(
        !tokens.contains_key("corp"),
        "the baseline's token is for the baseline's index"
    );
    assert!(tokens.contains_key("tools"));
}

#[test]
fn the_maven_repository_is_checked_as_maven_reads_settings_xml() {
    let profile = parse(json!({"maven": {
        "repository": "HTTPS://Maven.Corp.Example/repository/public/",
        "mirror-of": ["*", "!snapshots"],
        "username": "ci-reader",
        "password": {"value": "pa ss&<word>"},
        "proxy": "http://proxy.corp.example:3128",
        "no-proxy": ["*.Corp.Example", "localhost"]
    }}));
    assert_eq!(profile.validate(), vec![]);
    let normalized = profile.clone().normalized();
    let maven = normalized.maven.as_ref().unwrap();
    assert_eq!(
        maven.repository.as_deref(),
        Some("https://maven.corp.example/repository/public/")
    );
    assert_eq!(
        maven.no_proxy.as_deref(),
        Some(&["*.corp.example".to_owned(), "localhost".to_owned()][..])
    );
    let secrets: Vec<String> = profile
        .secrets()
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    assert_eq!(secrets, ["maven.password"]);
    assert_eq!(
        profile
            .secret_destination(&profile.secrets()[0].0)
            .as_deref(),
        Some("HTTPS://Maven.Corp.Example/repository/public/"),
        "the password goes where the repository is"
    );
    assert!(!serde_json::to_value(&profile)
        .unwrap()
        .to_string()
        .contains("pa ss"));

    let wrong = parse(json!({"maven": {
        "repository": "https://maven.corp.example/${env.REPO}/",
        "mirror-of": ["central,snapshots", ""],
        "username": "${env.USER}",
        "password": {"value": "{encrypted}"},
        "proxy": "https://proxy.corp.example:3128/path",
        "no-proxy": ["a|b", ".corp.example"]
    }}));
    let problems = wrong.validate();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for path in [
        "maven.repository",
        "maven.mirror-of[0]",
        "maven.mirror-of[1]",
        "maven.username",
        "maven.password",
        "maven.proxy",
        "maven.no-proxy[0]",
        "maven.no-proxy[1]",
    ] {
        assert!(paths.contains(&path), "{path}: {problems:?}");
    }
    let spaced = parse(json!({"maven": {
        "repository": "https://maven.corp.example/",
        "username": " ci-reader",
        "password": {"value": "p "}
    }}));
    let problems = spaced.validate();
    for path in ["maven.username", "maven.password"] {
        assert!(
            problems
                .iter()
                .any(|p| p.path == path && p.message.contains("Maven trims it")),
            "{path}: {problems:?}"
        );
    }
    let alone = parse(json!({"maven": {"password": {"value": "p"}, "no-proxy": ["x"]}}));
    let problems = alone.validate();
    for (path, says) in [
        ("maven.password", "needs maven.username"),
        ("maven.password", "needs maven.repository"),
        ("maven.no-proxy", "needs maven.proxy"),
    ] {
        assert!(
            problems
                .iter()
                .any(|p| p.path == path && p.message.contains(says)),
            "{path} {says}: {problems:?}"
        );
    }
}

#[test]
fn an_overlay_that_moves_the_maven_repository_brings_its_own_login_or_none() {
    let baseline = parse(json!({"maven": {
        "repository": "https://maven.corp.example/public/",
        "username": "reader", "password": {"value": "p"},
        "proxy": "http://proxy.corp.example:3128"
    }}));
    let moved = parse(json!({"maven": {"repository": "https://maven-eu.corp.example/public/"}}));
    let merged = baseline.overlaid(&moved).maven.unwrap();
    assert_eq!((merged.username, merged.password), (None, None));
    assert!(merged.proxy.is_some(), "the proxy is not the repository's");
    let kept = baseline
        .overlaid(&parse(json!({"maven": {"mirror-of": ["central"]}})))
        .maven
        .unwrap();
    assert_eq!(kept.username.as_deref(), Some("reader"));
    // A role that names the same repository, however spelled, moves nothing.
    let same = baseline
        .overlaid(&parse(
            json!({"maven": {"repository": "https://MAVEN.corp.example:443/public/"}}),
        ))
        .maven
        .unwrap();
    assert_eq!(same.username.as_deref(), Some("reader"));
    // A role's own login for the same repository replaces the baseline's.
    let rotated = baseline
        .overlaid(&parse(json!({"maven": {"password": {"value": "q"}}})))
        .maven
        .unwrap();
    assert_eq!(rotated.username.as_deref(), Some("reader"));
    assert_eq!(rotated.password, Some(Secret::Value("q".into())));
}

#[test]
fn the_gem_source_is_checked_and_its_login_travels_with_it() {
    let profile = parse(json!({"rubygems": {
        "source": "HTTPS://Gems.Corp.Example/",
        "username": "ci-reader",
        "password": {"value": "p@ss+w:rd"}
    }}));
    assert_eq!(profile.validate(), vec![]);
    let normalized = profile.clone().normalized();
    assert_eq!(
        normalized.rubygems.as_ref().unwrap().source.as_deref(),
        Some("https://gems.corp.example/")
    );
    assert_eq!(
        profile
            .secret_destination(&profile.secrets()[0].0)
            .as_deref(),
        Some("HTTPS://Gems.Corp.Example/"),
        "the password goes where the source is"
    );
    let wrong = parse(json!({"rubygems": {
        "source": "https://ada:pw@gems.corp.example/",
        "username": "ada:eve",
        "password": {"value": "p"}
    }}));
    let paths: Vec<String> = wrong.validate().into_iter().map(|p| p.path).collect();
    assert!(paths.contains(&"rubygems.source".to_owned()), "{paths:?}");
    assert!(paths.contains(&"rubygems.username".to_owned()), "{paths:?}");
    let alone = parse(json!({"rubygems": {"password": {"value": "p"}}}));
    let problems = alone.validate();
    for says in ["needs rubygems.username", "needs rubygems.source"] {
        assert!(
            problems.iter().any(|p| p.message.contains(says)),
            "{says}: {problems:?}"
        );
    }
    let moved = profile.overlaid(&parse(
        json!({"rubygems": {"source": "https://gems-eu.corp.example/"}}),
    ));
    let moved = moved.rubygems.unwrap();
    assert_eq!((moved.username, moved.password), (None, None));
}

#[test]
fn a_token_npm_would_read_under_another_key_is_refused() {
    let token = json!({"value": "t"});
    let profile = parse(json!({
        "npm": {"auth-tokens": {
            "https://npm.corp.example/=/": token,
            "https://npm.corp.example/a/": token
        }},
        "clients": {
            "pnpm": {"auth-tokens": {"https://r.example/?a=b": token}},
            // Yarn keeps its tokens in YAML, which quotes a key.
            "yarn": {"auth-tokens": {"https://y.example/=/": token}}
        }
    }));
    let problems: Vec<(String, String)> = profile
        .validate()
        .into_iter()
        .map(|p| (p.path, p.message))
        .collect();
    let paths: Vec<&str> = problems.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "npm.auth-tokens.https://npm.corp.example/=/",
            "clients.pnpm.auth-tokens.https://r.example/?a=b"
        ],
        "{problems:?}"
    );
    assert!(problems
        .iter()
        .all(|(_, says)| says.contains("npm's ini parser")));
    // A registry's URL is a value in .npmrc, after the key's `=`: it may hold one.
    let values = parse(json!({"npm": {
        "registry": "https://npm.corp.example/=/",
        "scopes": {"@corp": "https://npm.corp.example/=/"}
    }}));
    assert_eq!(values.validate(), vec![]);
}

#[test]
fn bundler_is_given_no_login_for_a_source_on_an_ipv6_address() {
    let login =
        json!({"source": "https://[::1]:8443/", "username": "ci", "password": {"value": "p"}});
    let problems = parse(json!({"rubygems": login})).validate();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "rubygems.source");
    assert!(problems[0].message.contains("IPv6"), "{problems:?}");
    // Bundler's own source is where it is refused; RubyGems takes the login in the URL.
    let own = parse(json!({
        "rubygems": {"source": "https://gems.corp.example/", "username": "ci"},
        "clients": {
            "bundler": {"source": "https://[::1]/", "username": "ci"},
            "gem": {"source": "https://[::1]/", "username": "ci"}
        }
    }));
    let paths: Vec<String> = own.validate().into_iter().map(|p| p.path).collect();
    assert_eq!(paths, ["clients.bundler.source"]);
    for fine in [
        json!({"rubygems": {"source": "https://[::1]/"}}),
        json!({"rubygems": {"source": "https://127.0.0.1/", "username": "ci"}}),
    ] {
        assert_eq!(parse(fine).validate(), vec![]);
    }
}

#[test]
fn maven_and_gem_clients_take_their_own_values_over_their_ecosystems() {
    let profile = parse(json!({
        "maven": {"repository": "https://Maven.corp.example/public/",
                  "username": "ci", "password": {"value": "for-all"},
                  "proxy": "http://proxy.corp.example:3128"},
        "rubygems": {"source": "https://gems.corp.example/", "username": "ci",
                     "password": {"value": "for-gems"}},
        "clients": {
            "gradle": {"repository": "https://Gradle.corp.example/public/",
                       "username": "gradle", "password": {"value": "for-gradle"},
                       "mirror-of": ["central"]},
            "maven": {"no-proxy": ["*.corp.example"]},
            "bundler": {"source": "https://bundler.corp.example/"}
        }
    }));
    assert_eq!(profile.validate(), vec![]);
    let maven = profile.maven_for(MavenClient::Maven).unwrap();
    assert_eq!(
        (maven.username.as_deref(), maven.no_proxy.map(|h| h.len())),
        (Some("ci"), Some(1))
    );
    let gradle = profile.maven_for(MavenClient::Gradle).unwrap();
    assert_eq!(
        gradle.repository.as_deref(),
        Some("https://Gradle.corp.example/public/")
    );
    assert_eq!(gradle.username.as_deref(), Some("gradle"));
    assert_eq!(
        gradle.proxy.as_deref(),
        Some("http://proxy.corp.example:3128")
    );
    assert_eq!(
        gradle.no_proxy, None,
        "one client's own values are not another's"
    );
    assert_eq!(profile.rubygems_for(RubygemsClient::Gem), profile.rubygems);
    let bundler = profile.rubygems_for(RubygemsClient::Bundler).unwrap();
    assert_eq!(
        (
            bundler.source.as_deref(),
            bundler.username,
            bundler.password
        ),
        (Some("https://bundler.corp.example/"), None, None),
        "the login travels with its source: a client moved elsewhere has none"
    );

    // Client values are normalized, settings, secrets and diffs like any other.
    let normalized = profile.clone().normalized();
    assert_eq!(
        normalized
            .clients
            .gradle
            .as_ref()
            .unwrap()
            .repository
            .as_deref(),
        Some("https://gradle.corp.example/public/")
    );
    let secrets: Vec<String> = profile
        .secrets()
        .iter()
        .map(|(path, _)| path.to_string())
        .collect();
    assert_eq!(
        secrets,
        [
            "maven.password",
            "clients.gradle.password",
            "rubygems.password"
        ]
    );
    let destinations: Vec<Option<String>> = profile
        .secrets()
        .iter()
        .map(|(path, _)| profile.secret_destination(path))
        .collect();
    assert_eq!(
        destinations[1].as_deref(),
        Some("https://Gradle.corp.example/public/"),
        "a client's password goes to the repository that client reads"
    );
    let sealed = profile.to_json_with_secrets(|_| json!("sealed"));
    assert_eq!(sealed["clients"]["gradle"]["password"], "sealed");
    let mut changed = profile.clone();
    changed.clients.gradle.as_mut().unwrap().mirror_of = None;
    changed.clients.bundler = None;
    assert_eq!(
        profile
            .diff(&changed)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "clients.bundler.source: https://bundler.corp.example/ -> (unset)",
            "clients.gradle.mirror-of: [central] -> (unset)"
        ]
    );
    // A role's overlay merges client values as it merges sections.
    let overlay = parse(json!({"clients": {"gradle": {"mirror-of": ["*"]}}}));
    let merged = profile
        .overlaid(&overlay)
        .maven_for(MavenClient::Gradle)
        .unwrap();
    assert_eq!(merged.mirror_of, Some(vec!["*".to_owned()]));
    assert_eq!(merged.username.as_deref(), Some("gradle"));
}

#[test]
fn maven_and_gem_client_values_are_checked_where_they_stand() {
    let wrong = parse(json!({
        "maven": {"repository": "https://maven.corp.example/", "username": "ci"},
        "rubygems": {"source": "https://gems.corp.example/"},
        "clients": {
            "maven": {"proxy": "https://proxy.corp.example/", "no-proxy": [".corp.example"]},
            // Moved elsewhere, the section's login stays behind: a password alone lacks its user.
            "gradle": {"repository": "https://g.corp.example/", "password": {"value": "p"},
                       "no-proxy": ["h.corp.example"]},
            "bundler": {"username": "a:b"},
            "gem": {"password": {"value": "p"}}
        }
    }));
    let problems: Vec<(String, String)> = wrong
        .validate()
        .into_iter()
        .map(|p| (p.path, p.message))
        .collect();
    for (path, says) in [
        ("clients.maven.proxy", "http://"),
        ("clients.maven.no-proxy[0]", "names no host"),
        // Its own repository takes none of maven's login: only its own user name helps.
        (
            "clients.gradle.password",
            "needs clients.gradle.username in",
        ),
        ("clients.bundler.username", "':'"),
        // A proxy is not the repository's: the ecosystem's would do.
        (
            "clients.gradle.no-proxy",
            "needs clients.gradle.proxy or maven.proxy",
        ),
        (
            "clients.gem.password",
            "needs clients.gem.username or rubygems.username",
        ),
    ] {
        assert!(
            problems.iter().any(|(p, m)| p == path && m.contains(says)),
            "{path}: {says}: {problems:?}"
        );
    }
    assert_eq!(
        problems
            .iter()
            .filter(|(p, _)| p.starts_with("maven") || p.starts_with("rubygems"))
            .count(),
        0,
        "a problem is named where it was written: {problems:?}"
    );
    // A client's login over the section's repository is whole; RubyGems takes a `:` in a
    // user name (encoded in the URL), and Gradle a `${` (it never interpolates its login).
    let fine = parse(json!({
        "maven": {"repository": "https://maven.corp.example/"},
        "rubygems": {"source": "https://gems.corp.example/"},
        "clients": {"maven": {"username": "m", "password": {"value": "p"}},
                    "gradle": {"username": "g", "password": {"value": "${p}"}},
                    "gem": {"username": "a:b"}}
    }));
    assert_eq!(fine.validate(), vec![]);
    // Each problem once: the section's, not again for each client that reads it.
    let once = parse(json!({
        "maven": {"password": {"value": "p"}},
        "clients": {"gradle": {"mirror-of": ["central"]}}
    }));
    let paths: Vec<String> = once.validate().into_iter().map(|p| p.path).collect();
    assert_eq!(
        paths,
        [
            "maven.password",
            "maven.password",
            "clients.gradle.mirror-of"
        ],
        "{paths:?}"
    );
}

#[test]
fn a_clients_login_never_follows_it_to_another_layers_repository() {
    // The baseline's Gradle login is for the baseline's repository...
    let baseline = parse(json!({
        "maven": {"repository": "https://maven.corp.example/"},
        "rubygems": {"source": "https://gems.corp.example/"},
        "clients": {"gradle": {"username": "g", "password": {"value": "for-maven-corp"}},
                    "bundler": {"username": "b", "password": {"value": "for-gems-corp"}}}
    }));
    assert_eq!(baseline.validate(), vec![]);
    // ...so a role that moves the repository (and holds no secret to check) does not get it.
    let moved = parse(
        json!({"maven": {"repository": "https://elsewhere.example/"},
                             "rubygems": {"source": "https://elsewhere.example/"}}),
    );
    let merged = baseline.overlaid(&moved);
    let gradle = merged.maven_for(MavenClient::Gradle).unwrap();
    assert_eq!(
        gradle.repository.as_deref(),
        Some("https://elsewhere.example/")
    );
    assert_eq!((gradle.username, gradle.password), (None, None));
    let bundler = merged.rubygems_for(RubygemsClient::Bundler).unwrap();
    assert_eq!((bundler.username, bundler.password), (None, None));
    // A role on the same repository keeps it, however the URL is spelled.
    let same = parse(json!({"maven": {"repository": "https://MAVEN.corp.example:443/"}}));
    let gradle = baseline
        .overlaid(&same)
        .maven_for(MavenClient::Gradle)
        .unwrap();
    assert_eq!(
        gradle.password,
        Some(Secret::Value("for-maven-corp".into()))
    );

    // The role's login for its repository does not follow Gradle to the baseline's own.
    let baseline = parse(json!({"clients": {"gradle": {"repository": "https://g.corp.example/"}}}));
    let role = parse(json!({
        "maven": {"repository": "https://role.corp.example/"},
        "clients": {"gradle": {"username": "r", "password": {"value": "for-role"}}}
    }));
    assert_eq!(role.validate(), vec![]);
    let merged = baseline.overlaid(&role);
    let gradle = merged.maven_for(MavenClient::Gradle).unwrap();
    assert_eq!(
        gradle.repository.as_deref(),
        Some("https://g.corp.example/")
    );
    assert_eq!((gradle.username, gradle.password), (None, None));
    let maven = merged.maven_for(MavenClient::Maven).unwrap();
    assert_eq!(
        maven.repository.as_deref(),
        Some("https://role.corp.example/")
    );
    // The merged profile is one every check accepts, and its secrets are where it sends them.
    assert_eq!(merged.validate(), vec![]);
    // Nothing appears that no layer wrote.
    let baseline = parse(json!({
        "maven": {"repository": "https://m.corp.example/", "username": "u", "password": {"value": "p"}},
        "clients": {"gradle": {"proxy": "http://proxy.corp.example:3128/"}}
    }));
    assert_eq!(baseline.overlaid(&Profile::default()), baseline);
    let role = parse(
        json!({"maven": {"repository": "https://r.corp.example/", "username": "r",
                                      "password": {"value": "q"}}}),
    );
    let merged = baseline.overlaid(&role);
    assert_eq!(
        merged.clients.gradle.as_ref().unwrap(),
        baseline.clients.gradle.as_ref().unwrap()
    );
    let gradle = merged.maven_for(MavenClient::Gradle).unwrap();
    assert_eq!(gradle.password, Some(Secret::Value("q".into())));
    for (path, _) in merged.secrets() {
        let to = merged.secret_destination(&path);
        assert_ne!(to.as_deref(), Some("https://g.corp.example/"), "{path}");
    }
}

/// A Maven section over a few spellings of two repositories and two passwords.
fn arb_maven() -> impl Strategy<Value = Option<MavenSettings>> {
    let repository = proptest::option::of(proptest::sample::select(vec![
        "https://a.example/",
        "https://A.example:443/",
        "https://b.example/",
    ]));
    let password = proptest::option::of(proptest::sample::select(vec!["p", "q"]));
    let username = proptest::option::of(proptest::sample::select(vec!["u", "v"]));
    proptest::option::of(
        (repository, username, password).prop_map(|(r, u, p)| MavenSettings {
            repository: r.map(str::to_owned),
            username: u.map(str::to_owned),
            password: p.map(|p| Secret::Value(p.to_owned())),
            ..MavenSettings::default()
        }),
    )
}

fn arb_maven_profile() -> impl Strategy<Value = Profile> {
    (arb_maven(), arb_maven(), arb_maven())
        .prop_map(|(maven, own_maven, gradle)| Profile {
            maven,
            clients: ClientOverrides {
                maven: own_maven,
                gradle,
                ..ClientOverrides::default()
            },
            ..Profile::default()
        })
        .prop_filter("a valid layer", |profile| profile.validate().is_empty())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever two valid layers say, each client sends a password only to a repository
    /// that one of the layers paired it with; an empty overlay changes nothing.
    #[test]
    fn a_password_reaches_only_a_repository_a_layer_paired_it_with(
        baseline in arb_maven_profile(),
        overlay in arb_maven_profile(),
    ) {
        let server = |view: &MavenSettings| view.repository.as_deref().map(normalize::url);
        let merged = baseline.overlaid(&overlay);
        for client in [MavenClient::Maven, MavenClient::Gradle] {
            let Some(read) = merged.maven_for(client) else { continue };
            let Some(password) = &read.password else { continue };
            let paired = [&baseline, &overlay].iter().any(|layer| {
                [layer.maven.clone(), layer.maven_for(MavenClient::Maven), layer.maven_for(MavenClient::Gradle)]
                    .into_iter()
                    .flatten()
                    .any(|view| server(&view) == server(&read) && view.password.as_ref() == Some(password))
            });
            prop_assert!(paired, "{client:?} sends {password:?} to {:?}", read.repository);
        }
        prop_assert_eq!(baseline.overlaid(&Profile::default()), baseline.clone());
    }
}

#[test]
fn a_profile_larger_than_a_delivery_may_carry_is_refused_whole() {
    let env: serde_json::Map<String, serde_json::Value> = (0..64)
        .map(|i| (format!("CORP_SETTING_{i}"), json!("a".repeat(4096))))
        .collect();
    let problems = parse(json!({ "env": env })).validate();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "");
    assert!(
        problems[0].message.contains("at most 262144"),
        "{problems:?}"
    );
    // Just under: accepted.
    let env: serde_json::Map<String, serde_json::Value> = (0..60)
        .map(|i| (format!("CORP_SETTING_{i}"), json!("a".repeat(4096))))
        .collect();
    assert_eq!(parse(json!({ "env": env })).validate(), []);
}

#[test]
fn invisible_and_reordering_characters_are_refused_in_every_value() {
    let hidden = [
        (
            "npm.registry",
            json!({"npm": {"registry": "https://npm.corp.example/\u{202E}/"}}),
        ),
        (
            "go.private[0]",
            json!({"go": {"private": ["corp\u{200B}.example"]}}),
        ),
        (
            "env.CORP_URL",
            json!({"env": {"CORP_URL": "https://corp.example/\u{2066}x"}}),
        ),
        (
            "git.rewrites[0].instead-of[0]",
            json!({"git": {"rewrites": [{"base": "https://git.corp.example/", "instead-of": ["https://github\u{FEFF}.com/"]}]}}),
        ),
        (
            "proxy.no-proxy[0]",
            json!({"proxy": {"no-proxy": ["corp\u{00AD}.example"]}}),
        ),
    ];
    for (path, profile) in hidden {
        let problems = parse(profile).validate();
        assert!(
            problems
                .iter()
                .any(|p| p.path == path && p.message.contains("invisible")),
            "{path}: {problems:?}"
        );
    }
}

#[test]
fn international_hosts_are_kept_in_their_idna_form() {
    let profile = parse(json!({
        "npm": {"registry": "https://ｎｐｍ.corp.example/"},
        "pypi": {"index-url": "https://bu\u{0308}cher.example/simple"},
        "proxy": {"no-proxy": [".bücher.example"]}
    }));
    assert_eq!(profile.validate(), []);
    let stored = profile.normalized();
    assert_eq!(
        stored.npm.unwrap().registry.as_deref(),
        Some("https://npm.corp.example/"),
        "fullwidth letters are the ASCII ones"
    );
    let pypi = stored.pypi.unwrap();
    assert_eq!(
        pypi.index_url.as_deref(),
        Some("https://xn--bcher-kva.example/simple"),
        "a combining mark is composed, then encoded"
    );
    assert_eq!(
        stored.proxy.unwrap().no_proxy.unwrap(),
        [".xn--bcher-kva.example"]
    );
}

#[test]
fn a_diff_shows_an_international_host_in_both_its_forms() {
    let before = parse(json!({}));
    let after = parse(json!({"pypi": {"index-url": "https://bücher.example/simple"}})).normalized();
    let changes = before.diff(&after);
    assert_eq!(
        changes[0].new.as_deref(),
        Some("https://xn--bcher-kva.example/simple (xn--bcher-kva.example is bücher.example)")
    );
    // Each host once; a name that is not punycode at all as it is.
    assert_eq!(
        settings::with_unicode_hosts(
            "https://xn--bcher-kva.example/, https://xn--bcher-kva.example/b, https://xn--.example/"
        ),
        "https://xn--bcher-kva.example/, https://xn--bcher-kva.example/b, https://xn--.example/ (xn--bcher-kva.example is bücher.example)"
    );
    assert_eq!(
        settings::with_unicode_hosts("https://npm.corp.example/"),
        "https://npm.corp.example/"
    );
}

#[test]
fn variables_that_run_code_or_change_tls_pass_the_shape_and_are_named_for_an_allowance() {
    let profile = parse(json!({"env": {
        "NODE_OPTIONS": "--use-openssl-ca",
        "node_extra_ca_certs": "/etc/ssl/corp.pem",
        "CORP_REGION": "eu"
    }}));
    assert_eq!(profile.validate(), []);
    let mut needed = profile.variables_to_allow();
    needed.sort();
    assert_eq!(
        needed,
        [
            ("NODE_OPTIONS", variables::VariableKind::RunsCode),
            ("node_extra_ca_certs", variables::VariableKind::Trust),
        ]
    );
}
