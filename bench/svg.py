"""The few SVG pieces the bench charts draw (prune_chart.py's accuracy lines,
results.py's PyTorch/nnc bars): a self-contained document, no plotting
library. A chart is a plot area inside margins; callers map their data to
pixels and add elements in drawing order."""
from xml.sax.saxutils import escape


class Svg:
    def __init__(self, width, height, left, right, top, bottom, title):
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = left, right, top, bottom
        self.out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
                    'font-size="12">' % (width, height), '<rect width="100%" height="100%" fill="white"/>',
                    '<text x="%d" y="22" font-size="14">%s</text>' % (left, escape(title))]

    @property
    def plot_right(self):
        return self.width - self.right

    @property
    def plot_bottom(self):
        return self.height - self.bottom

    def line(self, x1, x2, y1, y2, stroke, extra=""):
        self.out.append('<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s"%s/>'
                        % (_num(x1), _num(x2), _num(y1), _num(y2), stroke, extra))

    def text(self, x, y, s, extra=""):
        self.out.append('<text x="%s" y="%s"%s>%s</text>' % (_num(x), _num(y), extra, escape(s)))

    def rect(self, x, y, w, h, fill, tooltip=None):
        tip = "<title>%s</title>" % escape(tooltip) if tooltip else ""
        self.out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">%s</rect>'
                        % (x, y, w, h, fill, tip))

    def raw(self, element):
        self.out.append(element)

    def grid_y(self, ticks, y, label):
        """A horizontal grid line and a left-hand label per tick."""
        for t in ticks:
            self.line(self.left, self.plot_right, "%.1f" % y(t), "%.1f" % y(t), "#ddd")
            self.text(self.left - 6, "%.1f" % (y(t) + 4), label(t), ' text-anchor="end"')

    def axis_titles(self, x_title, y_title):
        self.text("%.1f" % ((self.left + self.plot_right) / 2), self.height - 18, x_title, ' text-anchor="middle"')
        self.text_rotated(18, (self.top + self.plot_bottom) / 2, y_title)

    def text_rotated(self, x, y, s):
        self.out.append('<text transform="translate(%d,%.1f) rotate(-90)" text-anchor="middle">%s</text>'
                        % (x, y, escape(s)))

    def save(self, path):
        with open(path, "w") as f:
            f.write("\n".join(self.out + ["</svg>"]) + "\n")


def _num(v):
    return v if isinstance(v, str) else ("%d" % v if float(v).is_integer() else "%.1f" % v)
