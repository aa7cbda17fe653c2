"""One module per chapter of the book (`notebooks/NN_<name>.ipynb` calls `lpsr.study.chapters.<name>`):
its configurations, its runs, its analysis and the numbers its page glues, in that order. A chapter
module builds on the toolkit of lpsr.study (experiments, plotting, text, findings) and on the core
of the package, never on another chapter: a run two chapters show is named once in
lpsr.study.experiments and found in the run cache by whichever chapter asks second.
"""
