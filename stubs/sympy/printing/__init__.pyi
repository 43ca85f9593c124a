from .. import latex as latex
