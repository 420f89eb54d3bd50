//! Reads `[profiles.*]`: a table named like a built-in profile overrides only the keys it sets,
//! and `base = "<built-in>"` starts a new profile from a built-in one, so a name policy or a
//! validity is one line, not a whole profile.

use std::collections::BTreeMap;

use inkan_pki::Profile;
use serde::{Deserialize, Deserializer};

/// The built-in profiles by name.
pub(crate) fn built_in() -> BTreeMap<String, Profile> {
    [
        Profile::device(),
        Profile::server(),
        Profile::product(),
        Profile::tpm(),
        Profile::tee(),
        Profile::tee_tpm(),
        Profile::linked(),
        Profile::admin(),
    ]
    .into_iter()
    .map(|p| (p.name.clone(), p))
    .collect()
}

/// Serde: the `[profiles]` table, each entry overlaid on its built-in or `base`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Profile>, D::Error> {
    let tables = BTreeMap::<String, toml::Table>::deserialize(d)?;
    let built_in = built_in();
    let mut out = BTreeMap::new();
    for (name, mut table) in tables {
        let base = match table.remove("base") {
            Some(toml::Value::String(base)) => Some(base),
            Some(_) => {
                return Err(serde::de::Error::custom(format!(
                    "profiles.{name}.base must be the name of a built-in profile"
                )))
            }
            None => None,
        };
        let start = match (&base, built_in.get(&name)) {
            (Some(base), _) => Some(built_in.get(base).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "profiles.{name}.base = {base:?}: not a built-in profile ({})",
                    built_in.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })?),
            (None, found) => found,
        };
        let mut merged = match start {
            Some(profile) => toml::Table::try_from(profile).map_err(serde::de::Error::custom)?,
            None => toml::Table::new(),
        };
        merged.extend(table);
        merged.insert("name".into(), toml::Value::String(name.clone()));
        let profile: Profile = merged
            .try_into()
            .map_err(|e| serde::de::Error::custom(format!("profiles.{name}: {e}")))?;
        out.insert(name, profile);
    }
    Ok(out)
}
