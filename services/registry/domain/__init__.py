"""Pure rules of the registry service (DOMAIN.md §1): no I/O, time passed in.

- `codes`: the unified social credit code, citizen IDs, division and region codes;
- `names`: legal names and their search key;
- `organizations`: kinds, authority to register or file, what a registration needs, deadlines;
- `credit`: the irregular and serious lists (民政部令第60号);
- `standing`: what is in force on a date (status, listings, grades).
"""
