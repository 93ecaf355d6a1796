//! Profiles: every section, with values the server accepts that config files find hostile;
//! the settings of each client come from them through the agent's own plan.

use std::collections::BTreeMap;

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use switchyard_proto::profile::{
    CargoSettings, EnvValue, GitRewrite, GitSettings, GoFallback, GoProxyEntry, GoSettings,
    MavenSettings, NpmSettings, ProxyLogin, ProxySettings, PypiSettings, RubygemsSettings, Secret,
};
use switchyard_proto::Profile;

use super::{re, word};

fn some<S: Strategy>(strategy: S) -> impl Strategy<Value = Option<S::Value>> {
    option::weighted(0.75, strategy)
}

const SCOPES: &[&str] = &["@corp", "@mine", "@a.b", "@x_y-z"];
const CARGO_NAMES: &[&str] = &["corp", "mine", "corp-eu", "x_1"];
const ENV_NAMES: &[&str] = &["SY_TOKEN", "SY_HOME", "GEM_HOST", "_SY"];
pub(crate) const GIT_BASES: &[&str] = &[
    "https://git.corp.example/github/",
    "https://m/",
    "https://mirror.example/a]b/",
];

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => word(&[
            "npm.corp.example",
            "r.example",
            "gems.corp.example",
            "pypi.corp.example",
            "127.0.0.1",
            "localhost",
            "xn--bcher-kva.example",
            "[::1]",
        ]),
        1 => re("[a-z][a-z0-9-]{0,6}\\.example"),
    ]
}

/// An http(s) URL ending in `/`, its path of every character a URL may hold as it is but
/// those the server refuses (white space, `#`, `;`, quotes, backslashes) and `,` (which
/// separates Go's proxies).
fn url_of(schemes: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        word(schemes),
        host(),
        option::of(re("[1-9][0-9]{1,3}")),
        vec(re("[A-Za-z0-9._~!$&'()*+=:@%-]{1,8}"), 0..3),
    )
        .prop_map(|(scheme, host, port, path)| {
            let port = port.map(|port| format!(":{port}")).unwrap_or_default();
            let path: String = path.iter().map(|segment| format!("{segment}/")).collect();
            format!("{scheme}://{host}{port}/{path}")
        })
}

fn url() -> impl Strategy<Value = String> {
    url_of(&["https", "http"])
}

fn proxy_url() -> impl Strategy<Value = String> {
    word(&[
        "http://proxy.corp.example:3128",
        "http://10.0.0.1:8080",
        "http://[::1]:3128",
    ])
}

/// A token: anything but white space (which the server refuses in one). Now and then one with
/// a byte-order mark, which the server refuses too (it shows as nothing), but which every
/// editor must still write as it is or refuse: seldom, or most profiles would be ones the
/// server refuses (a regex class picks each of its ranges alike, so the mark would be one
/// character in six).
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => re("[!-~àé€😀]{1,24}"),
        1 => re("[!-~àé€😀\u{feff}]{1,24}"),
    ]
}

/// A password: white space inside only, and no `$` or braces, which Maven would interpolate
/// or try to decrypt (the server refuses them in a repository's password, the agent in a
/// proxy's).
fn password() -> impl Strategy<Value = String> {
    re("[!-#%-z|~àé€😀]([ !-#%-z|~àé€]{0,12}[!-#%-z|~àé€])?")
}

/// A user name: as a password, and without `:` (Bundler's end of a user name).
fn user_name() -> impl Strategy<Value = String> {
    re("[!-#%-9;-z|~àé€]([ !-#%-9;-z|~àé€]{0,10}[!-#%-9;-z|~àé€])?")
}

/// A variable's value: no `$` (environment.d expands it) nor white space at either end.
fn env_value() -> impl Strategy<Value = String> {
    re("[!-#%-~àé€]([ !-#%-~àé€]{0,14}[!-#%-~àé€])?")
}

fn trusted_host() -> impl Strategy<Value = String> {
    re("[a-z0-9][a-z0-9.-]{0,10}(:[1-9][0-9]{0,3})?")
}

fn no_proxy_host() -> impl Strategy<Value = String> {
    re("[a-z0-9*_-]{1,6}(\\.[a-z0-9*_-]{1,6}){0,2}")
}

fn go_pattern() -> impl Strategy<Value = String> {
    re("[A-Za-z0-9._~/*?\\[\\]-]{1,12}")
}

fn git_prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        word(&[
            "https://github.com/",
            "git@github.com:",
            "https://gitlab.com/"
        ]),
        re("[A-Za-z0-9@:/._~+-]{1,16}"),
    ]
}

pub(crate) fn profile() -> impl Strategy<Value = Profile> {
    let npm = (
        some(url()),
        some(btree_map(word(SCOPES), url(), 1..3)),
        // One scheme: npm keys a token by the URL without it. No `=` (written `%3D`): the
        // URL is a key in .npmrc, which npm's ini parser ends at the first `=`, and the server
        // refuses one.
        some(btree_map(
            url_of(&["https"]).prop_map(|url| url.replace('=', "%3D")),
            token(),
            1..3,
        )),
        some(any::<bool>()),
        some(proxy_url()),
        some(proxy_url()),
    )
        .prop_map(
            |(registry, scopes, tokens, strict_ssl, proxy, https_proxy)| NpmSettings {
                registry,
                scopes,
                auth_tokens: tokens.map(|tokens| {
                    tokens
                        .into_iter()
                        .map(|(url, token)| (url, Secret::Value(token)))
                        .collect()
                }),
                strict_ssl,
                proxy,
                https_proxy,
                ..NpmSettings::default()
            },
        );
    let pypi = (
        some(url()),
        some(vec(url(), 1..3)),
        some(vec(trusted_host(), 1..3)),
        some(1..=600_u32),
    )
        .prop_map(
            |(index_url, extra_index_url, trusted_host, timeout)| PypiSettings {
                index_url,
                extra_index_url,
                trusted_host,
                timeout,
                ..PypiSettings::default()
            },
        );
    let cargo = (
        some(url()),
        some(token()),
        vec((word(CARGO_NAMES), url(), option::of(token())), 0..3),
        some(proxy_url()),
    )
        .prop_map(|(registry, token, named, http_proxy)| {
            let registries: BTreeMap<String, String> = named
                .iter()
                .map(|(name, url, _)| (name.clone(), format!("sparse+{url}")))
                .collect();
            let tokens: BTreeMap<String, Secret> = named
                .into_iter()
                .filter_map(|(name, _, token)| Some((name, Secret::Value(token?))))
                .collect();
            CargoSettings {
                registry_token: registry.as_ref().and(token).map(Secret::Value),
                registry: registry.map(|url| format!("sparse+{url}")),
                registries: (!registries.is_empty()).then_some(registries),
                tokens: (!tokens.is_empty()).then_some(tokens),
                http_proxy,
            }
        });
    let maven = (
        some(url()),
        some(vec(
            prop_oneof![
                word(&["*", "external:*", "external:http:*", "central", "!central"]),
                re("!?[a-z0-9._-]{1,8}"),
            ],
            1..3,
        )),
        some((user_name(), some(password()))),
        some(proxy_url()),
        some(vec(no_proxy_host(), 1..3)),
    )
        .prop_map(|(repository, mirror_of, login, proxy, no_proxy)| {
            let login = repository.as_ref().and(login);
            MavenSettings {
                mirror_of: repository.as_ref().and(mirror_of),
                username: login.as_ref().map(|(username, _)| username.clone()),
                password: login.and_then(|(_, password)| password).map(Secret::Value),
                no_proxy: proxy.as_ref().and(no_proxy),
                repository,
                proxy,
            }
        });
    let rubygems =
        (some(url()), some((user_name(), some(password())))).prop_map(|(source, login)| {
            // No login for a source on an IPv6 address: Bundler keeps a login under a key made
            // of the host, and `BUNDLE_[::1]` is none its file can hold; the server refuses
            // one.
            let ipv6 = source.as_ref().is_some_and(|url| url.contains("://["));
            let login = source.as_ref().and(login).filter(|_| !ipv6);
            RubygemsSettings {
                username: login.as_ref().map(|(username, _)| username.clone()),
                password: login.and_then(|(_, password)| password).map(Secret::Value),
                source,
            }
        });
    let go = (
        some(vec(
            (
                prop_oneof![3 => url(), 1 => word(&["direct"]), 1 => word(&["off"])],
                any::<bool>(),
            ),
            1..4,
        )),
        some(vec(go_pattern(), 1..3)),
        some(vec(go_pattern(), 1..3)),
        some(vec(go_pattern(), 1..3)),
        some(prop_oneof![
            word(&[
                "sum.golang.org",
                "off",
                "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
            ]),
            re("[A-Za-z0-9._+/=-]{1,16}"),
        ]),
        some(vec(go_pattern(), 1..3)),
    )
        .prop_map(
            |(proxy, private, noproxy, nosumdb, sumdb, insecure)| GoSettings {
                proxy: proxy.map(|sources| {
                    sources
                        .into_iter()
                        .map(|(source, any_error)| GoProxyEntry {
                            source,
                            fallback: match any_error {
                                true => GoFallback::AnyError,
                                false => GoFallback::NotFound,
                            },
                        })
                        .collect()
                }),
                private,
                noproxy,
                nosumdb,
                sumdb,
                insecure,
            },
        );
    let git = (
        vec(
            (
                word(GIT_BASES),
                vec(git_prefix(), 1..3),
                vec(git_prefix(), 0..2),
            ),
            0..3,
        ),
        some(proxy_url()),
    )
        .prop_map(|(rewrites, http_proxy)| GitSettings {
            rewrites: (!rewrites.is_empty()).then(|| {
                rewrites
                    .into_iter()
                    .map(|(base, instead_of, push_instead_of)| GitRewrite {
                        base,
                        instead_of,
                        push_instead_of,
                    })
                    .collect()
            }),
            http_proxy,
        });
    let proxy = (
        some(proxy_url()),
        some(proxy_url()),
        some(vec(no_proxy_host(), 1..3)),
        some(btree_map(proxy_url(), (user_name(), password()), 1..3)),
    )
        .prop_map(|(http, https, no_proxy, logins)| ProxySettings {
            http,
            https,
            no_proxy,
            credentials: logins.map(|logins| {
                logins
                    .into_iter()
                    .map(|(origin, (username, password))| {
                        let password = Secret::Value(password);
                        (origin, ProxyLogin { username, password })
                    })
                    .collect()
            }),
        });
    let env = btree_map(
        word(ENV_NAMES),
        prop_oneof![
            env_value().prop_map(EnvValue::Text),
            env_value().prop_map(|value| EnvValue::Secret(Secret::Value(value))),
        ],
        0..3,
    );
    (npm, pypi, cargo, maven, rubygems, go, git, proxy, env).prop_map(
        |(npm, pypi, cargo, maven, rubygems, go, git, proxy, env)| Profile {
            go: Some(go),
            npm: Some(npm),
            pypi: Some(pypi),
            cargo: Some(cargo),
            maven: Some(maven),
            rubygems: Some(rubygems),
            git: Some(git),
            proxy: Some(proxy),
            env,
            ..Profile::default()
        },
    )
}
