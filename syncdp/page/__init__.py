"""The collaborators a :class:`~syncdp.tab.Tab` is composed of, one concern each.

* :mod:`.host`: what a tab needs from its browser (:class:`TabHost`);
* :mod:`.core`: the tab's command path (closed, crashed and dialog checks; set-up);
* :mod:`.dialogs`: JavaScript dialogs (state, policy, answering);
* :mod:`.navigation`: ``go_to``, ``refresh`` and lifecycle waits;
* :mod:`.evaluation` and :mod:`.values`: running JavaScript and reading its values;
* :mod:`.query`: finding elements;
* :mod:`.capture`: screenshots and PDFs;
* :mod:`.network`: the network log;
* :mod:`.events`: callbacks (also on a background pool) and event waits;
* :mod:`.domains`: which helpers keep a CDP domain enabled (counted together);
* :mod:`.interception` (``Fetch``: routes, credentials), :mod:`.emulation` and
  :mod:`.devices`, with their ``Tab`` methods in the mixin :mod:`.network_control`;
* :mod:`.browser_control`: the ``Browser`` mixin for permissions and single cookies;
* :mod:`.features`: the ``Tab`` mixin of :mod:`.history` (back, forward), :mod:`.frames`
  (``Frame``), :mod:`.popups` (``expect_popup``; ``BrowserTabs.expect_tab`` of ``Browser``),
  :mod:`.console` (``ConsoleMessage``, Runtime enable counting) and :mod:`.waiting`.

``Tab`` keeps the public methods and delegates to these; nothing here is public API except
``Frame``, ``ConsoleMessage``, ``Route`` and ``Request`` (exported by :mod:`syncdp`).
"""
