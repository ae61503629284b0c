use super::*;

/// The published vectors of docs/format.md#test-vectors, byte-exact against real `atom.lock` files.
const VECTORS: &[(&str, &str, &str)] = &[
    (
        "4abbd2644bc3585e9be95deb277ccf48f6ed26ac",
        "nix-lock",
        "r3rlam6bd31t9i04ggug7avs8vf8981q7a3b6gobemk1gfs50qm0",
    ),
    (
        "68b63bd131acd23bdfd57983fe85ba7c092ce02f",
        "atom-nix",
        "r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0",
    ),
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn published_id_vectors() {
    for (root, label, expected) in VECTORS {
        let id = AtomId::new(Root::from_hex(root).unwrap(), Label::new(label).unwrap());
        assert_eq!(id.to_string(), *expected, "{root} {label}");
        assert_eq!(id.digest().to_string().len(), 52);
    }
}

#[test]
fn intermediate_values_of_the_atom_nix_vector() {
    let root = Root::from_hex("68b63bd131acd23bdfd57983fe85ba7c092ce02f").unwrap();
    let key = blake3::derive_key(ID_CONTEXT, root.as_bytes());
    assert_eq!(
        hex(&key),
        "6bc415b74bd34a8b9d02cb199d264da12bbb2adda3aeb921e2e65a9060d25743"
    );
    let id = AtomId::new(root, Label::new("atom-nix").unwrap());
    assert_eq!(
        hex(id.digest().as_bytes()),
        "da655c8b245e69eca16e9fb5b80082b1b116037d65c4fa7124c76bb8df5e8dfe"
    );
}

#[test]
fn digest_text_round_trips_and_truncates() {
    for (_, _, text) in VECTORS {
        let digest = AtomDigest::parse(text).unwrap();
        assert_eq!(digest.to_string(), *text);
        assert_eq!(format!("{digest:.8}"), text[..8]);
    }
    for seed in 0u8..=255 {
        let digest = AtomDigest::from_bytes(*blake3::hash(&[seed]).as_bytes());
        assert_eq!(AtomDigest::parse(&digest.to_string()), Ok(digest));
    }
}

#[test]
fn digest_text_errors() {
    let digest_error = |text: &str| AtomDigest::parse(text).map_err(|e| e.error);
    let good = VECTORS[0].2;
    assert_eq!(
        digest_error(&good.to_uppercase()),
        Err(DigestError::InvalidBase32 {
            found: 'R',
            position: 0
        })
    );
    assert_eq!(
        digest_error(&good.replace('q', "w")),
        Err(DigestError::InvalidBase32 {
            found: 'w',
            position: good.find('q').unwrap()
        })
    );
    assert_eq!(digest_error(&good[..51]), Err(DigestError::Blake3Bytes(51)));
    assert_eq!(
        digest_error(&format!("{good}0")),
        Err(DigestError::Blake3Bytes(53))
    );
    assert_eq!(digest_error(""), Err(DigestError::Blake3Bytes(0)));
    // The last character carries 1 data bit and 4 padding bits: '1' sets a padding bit.
    let non_canonical = format!("{}1", &good[..51]);
    assert_eq!(digest_error(&non_canonical), Err(DigestError::NonCanonical));
}

#[test]
fn parse_errors_carry_their_input() {
    assert_eq!(
        AtomDigest::parse("r9il").unwrap_err().to_string(),
        "invalid atom id \"r9il\": an atom id is 52 base32hex characters encoding 32 bytes, this one has 4 characters"
    );
    assert_eq!(
        Root::parse("68b6").unwrap_err().to_string(),
        "invalid root \"68b6\": a root commit id has 40 hexadecimal digits, this one has 4 characters"
    );
    assert_eq!(
        Label::parse("9atom").unwrap_err().to_string(),
        "invalid label \"9atom\": cannot start with: '9'"
    );
}

#[test]
fn root_parsing() {
    let upper = Root::from_hex("68B63BD131ACD23BDFD57983FE85BA7C092CE02F").unwrap();
    assert_eq!(upper.to_hex(), "68b63bd131acd23bdfd57983fe85ba7c092ce02f");
    assert_eq!(Root::from_hex("68b6"), Err(RootError::Length(4)));
    assert_eq!(
        Root::from_hex("g8b63bd131acd23bdfd57983fe85ba7c092ce02f"),
        Err(RootError::NotHex {
            found: 'g',
            position: 0
        })
    );
    // 40 characters but not 40 bytes: never sliced mid-character.
    assert_eq!(Root::from_hex(&"é".repeat(40)), Err(RootError::Length(40)));
}

/// Every valid label listed in docs/format.md#names.
const VALID_LABELS: &[&str] = &[
    "α",
    "ñ_1",
    "αβγ",
    "ΑΒΓ",
    "кириллица",
    "汉字",
    "ひらがな",
    "한글",
    "Ññ",
    "Öö",
    "Ææ",
    "Łł",
    "ئ",
    "א",
    "ก",
    "Ա",
    "ᚠ",
    "ᓀ",
    "あア",
    "한글漢字",
    "Café_au_lait-123",
];

/// Every invalid label listed in docs/format.md#names without an exact error.
const INVALID_LABELS: &[&str] = &[
    "_ΑΒΓ",
    "-кириллица",
    "汉字!",
    "ひらがな。",
    "한글 ",
    "Ññ\u{200B}",
    "Öö\t",
    "Ææ\n",
    "Łł\r",
    "ئ،",
    "א״",
    "ก๏",
    "Ա։",
    "ᚠ᛫",
    "한글漢字♥",
    "Café_au_lait-123☕",
];

#[test]
fn valid_labels() {
    for input in VALID_LABELS {
        let label = Label::new(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(label.as_str(), *input, "already NFKC");
        // Every label is a valid tag too.
        Tag::new(input).unwrap();
    }
}

#[test]
fn invalid_labels() {
    for input in INVALID_LABELS {
        assert!(Label::new(input).is_err(), "{input:?} must be rejected");
    }
}

#[test]
fn exact_label_errors() {
    use NameError::*;
    let cases: &[(&str, NameError)] = &[
        ("", Empty),
        ("\u{200B}", InvalidStart('\u{200B}')),
        ("α\u{200B}", InvalidCharacters("\u{200B}".into())),
        ("a-!@#$%^&*()_-asdf", InvalidCharacters("!@#$%^&*()".into())),
        ("9atom", InvalidStart('9')),
        ("'atom", InvalidStart('\'')),
        ("_atom", InvalidStart('_')),
        ("-atom", InvalidStart('-')),
        ("%atom", InvalidStart('%')),
        ("123αβγ", InvalidStart('1')),
        ("αβγ!@#", InvalidCharacters("!@#".into())),
        ("한글 漢字", InvalidCharacters(" ".into())),
        ("Café♥", InvalidCharacters("♥".into())),
    ];
    for (input, expected) in cases {
        assert_eq!(Label::new(input).as_ref(), Err(expected), "{input:?}");
    }
}

#[test]
fn error_messages() {
    assert_eq!(NameError::Empty.to_string(), "cannot be empty");
    assert_eq!(
        NameError::TooLong.to_string(),
        "cannot be more than 128 bytes"
    );
    assert_eq!(
        NameError::InvalidStart('9').to_string(),
        "cannot start with: '9'"
    );
    assert_eq!(
        NameError::InvalidCharacters("!@".into()).to_string(),
        "contains invalid characters: '!@'"
    );
    // Invisible characters are shown escaped, so the message can be acted on.
    assert_eq!(
        NameError::InvalidCharacters("\u{200B}\t".into()).to_string(),
        "contains invalid characters: '\\u{200b}\\t'"
    );
}

#[test]
fn length_is_counted_after_normalisation() {
    assert_eq!(Label::new(&"a".repeat(128)).unwrap().len(), 128);
    assert_eq!(Label::new(&"a".repeat(129)), Err(NameError::TooLong));
    // 64 two-byte characters are exactly 128 bytes.
    assert!(Label::new(&"é".repeat(64)).is_ok());
    assert_eq!(Label::new(&"é".repeat(65)), Err(NameError::TooLong));
    // U+FB01 (ﬁ ligature, 3 bytes) normalises to "fi" (2 bytes): 43 of them are 129 bytes
    // before and 86 after normalisation.
    assert!(Label::new(&"ﬁ".repeat(43)).is_ok());
    // Too long wins over an invalid start.
    assert_eq!(Label::new(&"1".repeat(129)), Err(NameError::TooLong));
}

#[test]
fn names_are_nfkc_normalised() {
    // "e" + combining acute normalises to "é", and the ligature to "fi".
    let label = Label::new("cafe\u{301}-ﬁle").unwrap();
    assert_eq!(label.as_str(), "café-file");
    // The id hashes the normalised bytes, so both spellings name one atom.
    let root = Root::from_hex(VECTORS[0].0).unwrap();
    assert_eq!(
        AtomId::new(root, label).digest(),
        AtomId::new(root, Label::new("café-file").unwrap()).digest()
    );
}

#[test]
fn kinds_differ_in_their_characters() {
    assert_eq!(
        Identifier::new("a-b"),
        Err(NameError::InvalidCharacters("-".into()))
    );
    assert!(Label::new("a-b").is_ok());
    assert_eq!(
        Label::new("a.b:c"),
        Err(NameError::InvalidCharacters(".:".into()))
    );
    assert!(Tag::new("a.b:c").is_ok());
    assert_eq!(
        Tag::new("a..b"),
        Err(NameError::InvalidCharacters("..".into()))
    );
    assert_eq!(Tag::new(".a"), Err(NameError::InvalidStart('.')));
    assert_eq!(Tag::new(":a"), Err(NameError::InvalidStart(':')));
    // Invalid characters are reported before the `..` rule.
    assert_eq!(
        Tag::new("a..b!"),
        Err(NameError::InvalidCharacters("!".into()))
    );
}
