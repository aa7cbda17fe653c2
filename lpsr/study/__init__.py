"""The study: the methods of Table 1 (`methods`), the comparison (`compare`), the ablation, the budget sweep, figures, the plate explorer, real small plates, and the book build (`book`)."""
