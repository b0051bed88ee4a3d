//! The templates and default configuration compiled into the binary.

use conpot_core::template::FileSource;

/// The configuration used without `-c` (or with `-f`).
pub const DEFAULT_CONFIG: &str = include_str!("../default-config.toml");

type Files = &'static [(&'static str, &'static [u8])];

/// Embedded templates by name.
pub const TEMPLATES: &[(&str, Files)] = &[
    (
        "default",
        &[(
            "template.toml",
            include_bytes!("../../../templates/default/template.toml"),
        )],
    ),
    (
        "nport",
        &[(
            "template.toml",
            include_bytes!("../../../templates/nport/template.toml"),
        )],
    ),
    (
        "ipmi",
        &[("template.toml", include_bytes!("../../../templates/ipmi/template.toml"))],
    ),
    (
        "IEC104",
        &[(
            "template.toml",
            include_bytes!("../../../templates/IEC104/template.toml"),
        )],
    ),
    (
        "logix",
        &[(
            "template.toml",
            include_bytes!("../../../templates/logix/template.toml"),
        )],
    ),
    // Kamstrup 382 (kamstrup helper).
    (
        "kamstrup_382",
        &[(
            "template.toml",
            include_bytes!("../../../templates/kamstrup_382/template.toml"),
        )],
    ),
    // guardian (issue 15)
    (
        "guardian_ast",
        &[(
            "template.toml",
            include_bytes!("../../../templates/guardian_ast/template.toml"),
        )],
    ),
    // Proxy mode (issue 15/16): upstreams from --upstream or [listen.upstreams].
    (
        "proxy",
        &[(
            "template.toml",
            include_bytes!("../../../templates/proxy/template.toml"),
        )],
    ),
];

/// The embedded template called `name`.
pub fn template(name: &str) -> Option<FileSource> {
    TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, files)| FileSource::Embedded(files))
}
