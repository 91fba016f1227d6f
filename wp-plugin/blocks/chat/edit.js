/**
 * Editor side of the `pressrag/chat` block. Plain script on the `wp.*` globals (no build
 * step): settings in the sidebar, and a preview rendered by the server with the same markup
 * visitors get, made inert so clicks in the editor never ask anything.
 */
( function ( wp ) {
	'use strict';

	var el = wp.element.createElement;
	var __ = wp.i18n.__;
	var defaults = window.pressragBlockDefaults || {};

	function Edit( props ) {
		var attributes = props.attributes;
		var setAttributes = props.setAttributes;
		var controls = el(
			wp.blockEditor.InspectorControls,
			null,
			el(
				wp.components.PanelBody,
				{ title: __( 'Chat', 'pressrag' ) },
				el( wp.components.TextControl, {
					label: __( 'Title', 'pressrag' ),
					value: attributes.title,
					placeholder: defaults.title || '',
					help: __( 'Empty: the title set under Settings → PressRAG.', 'pressrag' ),
					onChange: function ( value ) {
						setAttributes( { title: value } );
					},
				} ),
				el( wp.components.TextControl, {
					label: __( 'Placeholder', 'pressrag' ),
					value: attributes.placeholder,
					placeholder: defaults.placeholder || '',
					onChange: function ( value ) {
						setAttributes( { placeholder: value } );
					},
				} ),
				el( wp.components.RangeControl, {
					label: __( 'Passages per answer (0: site default)', 'pressrag' ),
					value: attributes.k,
					min: 0,
					max: 20,
					onChange: function ( value ) {
						setAttributes( { k: Number( value ) || 0 } );
					},
				} )
			)
		);
		var preview = el(
			wp.components.Disabled,
			null,
			el( wp.serverSideRender, { block: 'pressrag/chat', attributes: attributes } )
		);
		return el( 'div', wp.blockEditor.useBlockProps(), controls, preview );
	}

	wp.blocks.registerBlockType( 'pressrag/chat', {
		edit: Edit,
		// Rendered on the server for every visitor: nothing is saved in the post but the comment.
		save: function () {
			return null;
		},
	} );
}( window.wp ) );
