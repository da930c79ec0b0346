//! SKU patterns: `*` matches any run of characters (also none), `?` exactly
//! one; everything else matches itself. Iterative with one backtrack point,
//! so a pattern never costs more than pattern x text steps.

pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_questions_and_literals() {
        let cases = [
            ("*", "", true),
            ("*", "MUG-1", true),
            ("MUG-*", "MUG-BLUE", true),
            ("MUG-*", "MUG-", true),
            ("MUG-*", "CUP-BLUE", false),
            ("*-BLUE", "MUG-BLUE", true),
            ("M?G-*", "MUG-X", true),
            ("M?G-*", "MG-X", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**", "x", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(matches(pattern, text), expected, "{pattern:?} ~ {text:?}");
        }
    }
}
